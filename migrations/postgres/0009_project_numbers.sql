-- Project numbers: a Sentry DSN ends in the project, and the Sentry SDKs refuse a
-- DSN whose last path segment is not all digits, so every project gets a number
-- beside its text id: unique in the installation, never reused, never changed.

-- Existing projects are numbered in creation order from 1.
ALTER TABLE projects ADD COLUMN number BIGINT;

UPDATE projects p SET number = r.n
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM projects) r
WHERE r.id = p.id;

-- New projects take theirs from a sequence: processes creating projects at once
-- never wait for each other nor collide, and a sequence never hands a value out
-- twice (a rolled-back insert leaves a gap, which is harmless).
CREATE SEQUENCE project_numbers AS BIGINT OWNED BY projects.number;
SELECT setval('project_numbers', COALESCE((SELECT MAX(number) FROM projects), 0) + 1, false);

ALTER TABLE projects
    ALTER COLUMN number SET DEFAULT nextval('project_numbers'),
    ALTER COLUMN number SET NOT NULL;

CREATE UNIQUE INDEX projects_number ON projects (number);
