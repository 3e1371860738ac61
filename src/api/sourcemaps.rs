//! Release artifacts: minified files, source maps and sources uploaded by a CI
//! job, listed and deleted (docs/SOURCEMAPS.md).

use super::context::caller;
use super::problem::ApiResult;
use super::responses::{Created, NoContent};
use super::security::ApiAuth;
use super::ApiTags;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::error::AppError;
use crate::service::sourcemaps::{self, UploadFile};
use crate::state::SharedState;
use crate::store::ArtifactRow;
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, Object, OpenApi};

/// One stored artifact.
#[derive(Debug, Object)]
pub struct Artifact {
    pub id: String,
    pub release: String,
    /// The URL path with its prefix: `~/assets/app.js` (any host),
    /// `https://cdn.example.com/app.js`, `/app/dist/server.js`.
    pub name: String,
    /// `minified`, `sourcemap` or `source`.
    pub kind: String,
    /// Bytes as uploaded.
    pub size: i64,
    /// Bytes stored (compressed).
    pub stored_size: i64,
    pub debug_id: Option<String>,
    /// The `sourceMappingURL` a minified file points at (`data:…,…` when inline).
    pub sourcemap: Option<String>,
    /// For maps: whether they carry `sourcesContent`.
    pub has_sources_content: Option<bool>,
    /// Frames of ingested errors this file mapped, and failed to map.
    pub frames_mapped: i64,
    pub frames_failed: i64,
    pub created_at: String,
}

impl From<ArtifactRow> for Artifact {
    fn from(r: ArtifactRow) -> Self {
        Artifact {
            id: r.id,
            release: r.release,
            name: r.name,
            kind: r.kind,
            size: r.size,
            stored_size: r.stored_size,
            debug_id: r.debug_id,
            sourcemap: r.sourcemap,
            has_sources_content: r.has_sources_content.map(|v| v != 0),
            frames_mapped: r.frames_mapped,
            frames_failed: r.frames_failed,
            created_at: format_rfc3339_ms(r.created_at),
        }
    }
}

#[derive(Debug, Object)]
pub struct ArtifactList {
    pub items: Vec<Artifact>,
}

#[derive(Debug, Object)]
pub struct ArtifactUploadResult {
    pub items: Vec<Artifact>,
    /// What to fix for full mapping (maps without `sourcesContent`, files
    /// without a map).
    pub warnings: Vec<String>,
}

#[derive(Debug, Object)]
pub struct ArtifactsDeleted {
    pub deleted: u64,
}

/// A multipart upload: one part per file (any field name) whose filename is the
/// file's URL path, and an optional `url_prefix` text field. Kept as sent and
/// parsed by the handler once the caller is authenticated.
pub struct ArtifactForm {
    bytes: bytes::Bytes,
    content_type: Option<String>,
}

/// The parsed form.
struct Upload {
    url_prefix: Option<String>,
    files: Vec<UploadFile>,
}

impl<'a> ApiExtractor<'a> for ArtifactForm {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_schema::<ArtifactForm, _>("ArtifactForm".into(), |_| {
            let mut schema = MetaSchema::new("object");
            schema.description = Some(
                "One part per file; its filename is the file's URL path (e.g. `assets/app-3f9a1c.js`). `url_prefix` (text, default `~/`) is put before every name.",
            );
            schema.properties = vec![
                (
                    "url_prefix",
                    MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
                ),
                (
                    "file",
                    MetaSchemaRef::Inline(Box::new(MetaSchema {
                        items: Some(Box::new(MetaSchemaRef::Inline(Box::new(
                            MetaSchema::new_with_format("string", "binary"),
                        )))),
                        ..MetaSchema::new("array")
                    })),
                ),
            ];
            schema
        });
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "multipart/form-data",
                schema: MetaSchemaRef::Reference("ArtifactForm".into()),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        // Within the upload's limits (the edge's `is_artifact_upload`).
        Ok(ArtifactForm {
            bytes: super::json::read_bytes(body).await?,
            content_type: request.content_type().map(str::to_string),
        })
    }
}

impl ArtifactForm {
    async fn parse(self) -> Result<Upload, AppError> {
        let invalid = |m: String| AppError::invalid("file", m);
        let content_type = self.content_type.unwrap_or_default();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "multipart/form-data" {
            return Err(AppError::UnsupportedMediaType(format!(
                "content type {essence:?} is not accepted; send multipart/form-data with one part per file"
            )));
        }
        let boundary = multer::parse_boundary(&content_type)
            .map_err(|e| invalid(format!("the multipart body has no boundary ({e})")))?;
        let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(self.bytes) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let malformed = |e: multer::Error| invalid(format!("the multipart body is malformed: {e}"));
        let mut upload = Upload {
            url_prefix: None,
            files: Vec::new(),
        };
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let filename = field.file_name().map(str::to_string);
            let name = field.name().unwrap_or_default().to_string();
            let bytes = field.bytes().await.map_err(malformed)?.to_vec();
            match filename {
                Some(filename) => upload.files.push(UploadFile { filename, bytes }),
                None if name == "url_prefix" => {
                    upload.url_prefix = Some(String::from_utf8(bytes).map_err(|_| {
                        AppError::invalid("url_prefix", "`url_prefix` must be UTF-8 text")
                    })?)
                }
                // Other text fields (a tool's metadata) are ignored.
                None => {}
            }
            if upload.files.len() > sourcemaps::MAX_FILES {
                return Err(invalid(format!(
                    "at most {} files per upload; split the upload",
                    sourcemaps::MAX_FILES
                )));
            }
        }
        Ok(upload)
    }
}

pub struct SourcemapsApi;

#[OpenApi(tag = "ApiTags::Organizations")]
impl SourcemapsApi {
    /// Upload a release's files (EDITOR or OWNER): minified scripts, their source
    /// maps and sources. A file of the same name in the release is replaced.
    #[oai(
        path = "/api/projects/:project_id/releases/:release/artifacts",
        method = "post"
    )]
    async fn upload(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        release: Path<String>,
        form: ArtifactForm,
    ) -> ApiResult<Created<ArtifactUploadResult>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let form = form.parse().await?;
        let uploaded = sourcemaps::upload(
            &state,
            &who,
            &project_id.0,
            &release.0,
            form.url_prefix.as_deref(),
            form.files,
            &meta,
        )
        .await?;
        Ok(Created::Created(Json(ArtifactUploadResult {
            items: uploaded.artifacts.into_iter().map(Artifact::from).collect(),
            warnings: uploaded.warnings,
        })))
    }

    /// The release's artifacts, by name (any member).
    #[oai(
        path = "/api/projects/:project_id/releases/:release/artifacts",
        method = "get"
    )]
    async fn list(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        release: Path<String>,
    ) -> ApiResult<Json<ArtifactList>> {
        let (who, _) = caller(&state, &auth, req).await?;
        let rows = sourcemaps::list(&state, &who, &project_id.0, &release.0).await?;
        Ok(Json(ArtifactList {
            items: rows.into_iter().map(Artifact::from).collect(),
        }))
    }

    /// Delete every artifact of the release (EDITOR or OWNER).
    #[oai(
        path = "/api/projects/:project_id/releases/:release/artifacts",
        method = "delete"
    )]
    async fn delete_all(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        release: Path<String>,
    ) -> ApiResult<Json<ArtifactsDeleted>> {
        let (who, meta) = caller(&state, &auth, req).await?;
        let deleted =
            sourcemaps::delete(&state, &who, &project_id.0, &release.0, None, &meta).await?;
        Ok(Json(ArtifactsDeleted { deleted }))
    }

    /// Delete one artifact of the release (EDITOR or OWNER).
    #[oai(
        path = "/api/projects/:project_id/releases/:release/artifacts/:artifact_id",
        method = "delete"
    )]
    async fn delete_one(
        &self,
        state: Data<&SharedState>,
        auth: ApiAuth,
        req: &Request,
        project_id: Path<String>,
        release: Path<String>,
        artifact_id: Path<String>,
    ) -> ApiResult<NoContent> {
        let (who, meta) = caller(&state, &auth, req).await?;
        sourcemaps::delete(
            &state,
            &who,
            &project_id.0,
            &release.0,
            Some(&artifact_id.0),
            &meta,
        )
        .await?;
        Ok(NoContent::NoContent)
    }
}
