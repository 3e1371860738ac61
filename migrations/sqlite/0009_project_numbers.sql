-- Project numbers: a Sentry DSN ends in the project, and the Sentry SDKs refuse a
-- DSN whose last path segment is not all digits, so every project gets a number
-- beside its text id: unique in the installation, never reused, never changed.

-- SQLite adds a NOT NULL column to a table with rows only with a constant default:
-- 0 stands for "not numbered yet" until the UPDATE below and the trigger replace it.
-- Existing projects are numbered in creation order from 1.
ALTER TABLE projects ADD COLUMN number INTEGER NOT NULL DEFAULT 0;

UPDATE projects SET number = r.n
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM projects) r
WHERE r.id = projects.id;

CREATE UNIQUE INDEX projects_number ON projects (number);

-- A new project is numbered by this trigger, in the statement that inserts it (the
-- column default PostgreSQL has instead), before another row can take the 0: SQLite
-- runs row triggers as each row is inserted and has one writer at a time, so no two
-- inserts see the same MAX. Projects are only ever soft-deleted (`deleted_at`), so
-- the MAX counts them too and a number is never handed out twice.
CREATE TRIGGER projects_number_default AFTER INSERT ON projects
WHEN NEW.number = 0
BEGIN
    UPDATE projects SET number = (SELECT MAX(number) FROM projects) + 1
    WHERE id = NEW.id;
END;
