//! Which database errors are faults that clear by themselves (the server is down or
//! restarting, the pool is exhausted, the disk is full, the file is read-only or
//! gone) and which are mistakes. Decided here, once for both drivers, so every
//! route answers a transient fault with 503 and never 500.

use super::StoreError;

/// What went wrong, in a few words an operator can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No connection: refused, lost, shut down, or none free within the timeout.
    Unreachable,
    /// The disk (or the database's quota) is full.
    DiskFull,
    /// The database or its file cannot be written.
    ReadOnly,
    /// The SQLite file or its tables are gone (deleted or replaced under us).
    Missing,
    /// Another writer holds a lock; retrying later succeeds.
    Busy,
    /// Too many clients, or other resources of the server exhausted.
    Exhausted,
}

impl Fault {
    pub fn describe(self) -> &'static str {
        match self {
            Fault::Unreachable => "the database cannot be reached",
            Fault::DiskFull => "the database's disk is full",
            Fault::ReadOnly => "the database is read-only",
            Fault::Missing => "the database file is missing or was replaced",
            Fault::Busy => "the database is busy",
            Fault::Exhausted => "the database has no capacity left (too many clients)",
        }
    }
}

/// The transient fault behind a sqlx error, if it is one.
pub fn of_sqlx(e: &sqlx::Error) -> Option<Fault> {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => Some(Fault::Unreachable),
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            // PostgreSQL's SQLSTATEs are often all digits (57014, 53300), so the
            // backend decides how to read a code, not its looks.
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                of_sqlstate(code)
            } else {
                // SQLite reports numeric (extended) result codes.
                code.parse::<i32>()
                    .ok()
                    .and_then(|n| of_sqlite_code(n, db.message()))
            }
        }
        _ => None,
    }
}

/// The transient fault behind an error of the direct SQLite writer, if it is one.
pub fn of_rusqlite(e: &rusqlite::Error) -> Option<Fault> {
    match e {
        rusqlite::Error::SqliteFailure(err, msg) => {
            of_sqlite_code(err.extended_code, msg.as_deref().unwrap_or(""))
        }
        _ => None,
    }
}

fn of_sqlite_code(code: i32, message: &str) -> Option<Fault> {
    // Primary result codes (the low byte of an extended code).
    match code & 0xff {
        5 | 6 => Some(Fault::Busy),     // SQLITE_BUSY, SQLITE_LOCKED
        8 => Some(Fault::ReadOnly),     // SQLITE_READONLY (incl. a moved file)
        10 => Some(Fault::Unreachable), // SQLITE_IOERR
        13 => Some(Fault::DiskFull),    // SQLITE_FULL
        14 => Some(Fault::Missing),     // SQLITE_CANTOPEN
        26 => Some(Fault::Missing),     // SQLITE_NOTADB
        // A migrated database always has its tables: missing ones mean the file
        // was deleted or replaced while we served.
        1 if message.starts_with("no such table") => Some(Fault::Missing),
        _ => None,
    }
}

fn of_sqlstate(state: &str) -> Option<Fault> {
    match state {
        "53100" => Some(Fault::DiskFull),
        "25006" => Some(Fault::ReadOnly), // read-only transaction (a standby)
        // Serialization, deadlock, lock timeout, and a statement cancelled by its
        // timeout (a group commit given up at its requests' deadline).
        "40001" | "40P01" | "55P03" | "57014" => Some(Fault::Busy),
        s if s.starts_with("08") => Some(Fault::Unreachable), // connection exceptions
        s if s.starts_with("57P") => Some(Fault::Unreachable), // shutdown, starting up
        s if s.starts_with("53") => Some(Fault::Exhausted),   // too many connections, memory
        s if s.starts_with("58") => Some(Fault::Unreachable), // I/O error on the server
        _ => None,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::classify(err)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match of_rusqlite(&e) {
            Some(fault) => StoreError::Unavailable {
                fault,
                detail: e.to_string(),
            },
            None => StoreError::Direct(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_postgres_codes() {
        assert_eq!(
            of_sqlite_code(8, "attempt to write a readonly database"),
            Some(Fault::ReadOnly)
        );
        assert_eq!(of_sqlite_code(1032, ""), Some(Fault::ReadOnly)); // READONLY_DBMOVED
        assert_eq!(of_sqlite_code(13, ""), Some(Fault::DiskFull));
        assert_eq!(
            of_sqlite_code(1, "no such table: events"),
            Some(Fault::Missing)
        );
        assert_eq!(of_sqlite_code(1, "near \"SELEC\": syntax error"), None);
        assert_eq!(of_sqlite_code(19, "UNIQUE constraint failed"), None);
        assert_eq!(of_sqlstate("53100"), Some(Fault::DiskFull));
        assert_eq!(of_sqlstate("53300"), Some(Fault::Exhausted));
        assert_eq!(of_sqlstate("57P01"), Some(Fault::Unreachable));
        assert_eq!(of_sqlstate("08006"), Some(Fault::Unreachable));
        assert_eq!(of_sqlstate("23505"), None);
        assert_eq!(of_sqlstate("42P01"), None);
    }
}
