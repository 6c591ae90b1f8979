//! What the integration tests of this crate share.

/// A new, empty database on the PostgreSQL server that `TEST_POSTGRES_URL` names
/// (`scripts/test.sh` starts one), made for one test: its URL.
pub async fn new_postgres_database(prefix: &str) -> String {
    use sea_orm::ConnectionTrait;
    let server = std::env::var("TEST_POSTGRES_URL").expect(
        "TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    );
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes);
    let name = format!("{prefix}_{}", hex::encode(bytes));
    let admin = sea_orm::Database::connect(format!("{server}/postgres"))
        .await
        .expect("connect to the test PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await.ok();
    format!("{server}/{name}")
}
