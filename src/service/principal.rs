//! Who is calling and how the request looks: what authentication produces and what
//! every service that checks permissions or writes the audit log takes.

/// How the caller presented itself.
pub enum Credential<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
    None,
}

/// What the request looks like, for CSRF checks, throttling and the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// POST, PUT, PATCH, DELETE.
    pub unsafe_method: bool,
    pub origin: Option<String>,
    pub referer: Option<String>,
    pub csrf_token: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub is_admin: bool,
    /// The dashboard session behind the request, when there is one.
    pub session_id: Option<String>,
}
