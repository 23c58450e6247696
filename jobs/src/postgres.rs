//! Training data from PostgreSQL: `postgres://user@host:port/db` plus a `query`.
//!
//! The query runs in a read-only transaction behind a server-side cursor and is
//! fetched in batches of [`BATCH_ROWS`] as text (the server's own rendering:
//! integers and numerics in full, doubles in their shortest round-trip form), so
//! memory is bounded by the row limit and the cells reach the same schema checks
//! as a CSV file's. The password comes from the URI or, better, `PGPASSWORD`
//! (from a Secret); it never appears in a message: every error names the URI
//! with its password replaced by `***`.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_postgres::{NoTls, SimpleQueryMessage};
use vigil_core::data::dataset::RawTable;

/// Rows per `FETCH`.
pub const BATCH_ROWS: usize = 10_000;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("`{uri}` is not a valid PostgreSQL URI: {message}")]
    InvalidUri { uri: String, message: String },
    #[error("cannot connect to `{uri}`: {message}")]
    Connect { uri: String, message: String },
    #[error("query on `{uri}` failed: {message}")]
    Query { uri: String, message: String },
    #[error("query on `{uri}` returned more than {limit} rows (training.data.maxRows)")]
    TooManyRows { uri: String, limit: usize },
    #[error("query on `{uri}` returned no rows")]
    NoRows { uri: String },
}

/// What a query read.
pub struct QueryTable {
    pub table: RawTable,
    /// SHA-256 over the column names and cells as read (the data's fingerprint).
    pub sha256: String,
}

/// `uri` with its password (if any) replaced by `***`.
pub fn redact(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => uri.to_string(),
    }
}

/// The server's own words (`ERROR: relation "x" does not exist`, with its detail
/// and hint) or the client's with its cause: `tokio_postgres::Error` alone says
/// only "db error".
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.to_string().replace('\n', "; ");
    }
    match std::error::Error::source(e) {
        Some(cause) if !e.to_string().contains(&cause.to_string()) => format!("{e}: {cause}"),
        _ => e.to_string(),
    }
}

/// Runs `query` and reads at most `max_rows` rows; `progress(rows)` after each batch.
pub async fn read(
    uri: &str,
    query: &str,
    max_rows: usize,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> Result<QueryTable, PostgresError> {
    let shown = redact(uri);
    let mut config: tokio_postgres::Config =
        uri.parse()
            .map_err(|e: tokio_postgres::Error| PostgresError::InvalidUri {
                uri: shown.clone(),
                message: e.to_string(),
            })?;
    if config.get_password().is_none() {
        if let Ok(password) = std::env::var("PGPASSWORD") {
            config.password(password);
        }
    }
    let secret = config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    // Server messages never carry the password, but scrub it anyway.
    let scrub = |e: tokio_postgres::Error| {
        let mut message = describe(&e);
        if let Some(secret) = secret.as_deref().filter(|s| s.len() >= 3) {
            message = message.replace(secret, "***");
        }
        message
    };
    config.connect_timeout(CONNECT_TIMEOUT);
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|e| PostgresError::Connect {
            uri: shown.clone(),
            message: scrub(e),
        })?;
    let driver = tokio::spawn(connection);
    let query_error = |e| PostgresError::Query {
        uri: shown.clone(),
        message: scrub(e),
    };
    let query = query.trim().trim_end_matches(';');
    client
        .batch_execute(&format!(
            "BEGIN READ ONLY; DECLARE vigil_training NO SCROLL CURSOR FOR {query}"
        ))
        .await
        .map_err(query_error)?;
    let mut table = RawTable::default();
    let mut hasher = Sha256::new();
    let mut rows = 0usize;
    loop {
        let messages = client
            .simple_query(&format!("FETCH {BATCH_ROWS} FROM vigil_training"))
            .await
            .map_err(query_error)?;
        let mut fetched = 0;
        for message in messages {
            let row = match message {
                SimpleQueryMessage::Row(row) => row,
                SimpleQueryMessage::RowDescription(columns) if table.columns.is_empty() => {
                    table.columns = columns.iter().map(|c| c.name().to_string()).collect();
                    table.cells = vec![Vec::new(); table.columns.len()];
                    for name in &table.columns {
                        hasher.update(name.as_bytes());
                        hasher.update([0]);
                    }
                    continue;
                }
                _ => continue,
            };
            fetched += 1;
            rows += 1;
            if rows > max_rows {
                driver.abort();
                return Err(PostgresError::TooManyRows {
                    uri: shown,
                    limit: max_rows,
                });
            }
            for (i, cells) in table.cells.iter_mut().enumerate() {
                let cell = row.get(i);
                // 1 = NULL, 2 = a value: the fingerprint tells them apart.
                hasher.update(cell.map_or(&[1u8][..], |c| c.as_bytes()));
                hasher.update([if cell.is_some() { 2 } else { 1 }]);
                cells.push(cell.filter(|c| !c.is_empty()).map(str::to_string));
            }
        }
        progress(rows);
        if fetched < BATCH_ROWS {
            break;
        }
    }
    let _ = client.batch_execute("COMMIT").await;
    drop(client);
    let _ = driver.await;
    if rows == 0 {
        return Err(PostgresError::NoRows { uri: shown });
    }
    Ok(QueryTable {
        table,
        sha256: hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    })
}
