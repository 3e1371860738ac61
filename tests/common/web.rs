//! A browser-like HTTP client for the dashboard: keeps cookies, does not follow
//! redirects (tests look at them), and reads the CSRF token out of pages.

use reqwest::redirect::Policy;

pub struct Web {
    pub base: String,
    pub http: reqwest::Client,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no form with a CSRF token in:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }

    /// The text between the first `before` and the following `after`.
    pub fn between(&self, before: &str, after: &str) -> Option<String> {
        let start = self.body.find(before)? + before.len();
        let end = self.body[start..].find(after)? + start;
        Some(self.body[start..end].to_string())
    }

    pub fn has(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

impl Web {
    pub fn new(base: &str) -> Web {
        Web {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn page(res: reqwest::Response) -> Page {
        Page {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string()),
            headers: res.headers().clone(),
            body: res.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::page(
            self.http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Posts a form as a browser does (same-origin `Origin`).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::page(
            self.http
                .post(format!("{}{path}", self.base))
                .header("origin", &self.base)
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// GET, expecting `200`.
    pub async fn get_ok(&self, path: &str) -> Page {
        Self::expect_ok(path, self.get(path).await)
    }

    /// `visit`, expecting the page it ends on to be `200`.
    pub async fn visit_ok(&self, path: &str) -> Page {
        Self::expect_ok(path, self.visit(path).await)
    }

    fn expect_ok(path: &str, page: Page) -> Page {
        assert_eq!(
            page.status, 200,
            "{path} (to {:?}): {}",
            page.location, page.body
        );
        page
    }

    /// GET, following redirects, as a person clicking a link would end up.
    pub async fn visit(&self, path: &str) -> Page {
        let mut page = self.get(path).await;
        for _ in 0..5 {
            match (page.status, page.location.clone()) {
                (301..=303 | 307 | 308, Some(to)) => page = self.get(&to).await,
                _ => break,
            }
        }
        page
    }

    /// Signs up (the first user, or with open registration) and returns the landing page.
    pub async fn sign_up(&self, email: &str, password: &str, org: &str) -> Page {
        let form = self.get_ok("/signup").await;
        let csrf = form.csrf();
        self.post(
            "/signup",
            &[
                ("csrf", &csrf),
                ("name", "Test User"),
                ("email", email),
                ("password", password),
                ("org", org),
            ],
        )
        .await
    }

    pub async fn log_in(&self, email: &str, password: &str) -> Page {
        let form = self.get_ok("/login").await;
        let csrf = form.csrf();
        self.post(
            "/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }
}
