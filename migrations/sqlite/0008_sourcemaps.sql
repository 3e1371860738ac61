-- Release artifacts: minified files, their source maps and sources (docs/SOURCEMAPS.md).

-- Stored gzip-compressed in the database itself, so every process of a deployment
-- maps frames with the same files. `name` is the URL path with its prefix
-- (`~/assets/app.js`, `https://cdn.example.com/app.js`, `/app/dist/server.js`);
-- an upload of the same name to the same release replaces the file (new id).
-- `frames_mapped`/`frames_failed` count the ingested frames each file mapped or
-- failed to map, for the release's page.
CREATE TABLE release_artifacts (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    release         TEXT NOT NULL,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    size            BIGINT NOT NULL,
    stored_size     BIGINT NOT NULL,
    debug_id        TEXT,
    sourcemap       TEXT,
    has_sources_content BIGINT,
    content         BLOB NOT NULL,
    created_at      BIGINT NOT NULL,
    frames_mapped   BIGINT NOT NULL DEFAULT 0,
    frames_failed   BIGINT NOT NULL DEFAULT 0,
    UNIQUE (project_id, release, name)
);
CREATE INDEX release_artifacts_debug_id ON release_artifacts (project_id, debug_id)
    WHERE debug_id IS NOT NULL;
