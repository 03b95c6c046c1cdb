//! Operations on both engines: retention keeps what is recent or still needed, the copy moves
//! every row between engines (and refuses what it must), the backup is consistent under load.

use std::time::Duration;

use assent_auth::{Secret, SecretKey};
use assent_core::Timestamp;
use assent_store::testing::{Engine, TestDatabase};
use assent_store::{CopyError, CopyOptions, Retention, Store, StoreError};
use diesel::connection::SimpleConnection;

const DAY: i64 = 86_400_000;

fn exec(store: &Store, sql: &str) {
    store
        .write(|conn| {
            conn.batch_execute(sql)?;
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

fn count(store: &Store, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    store
        .read(|conn| {
            Ok::<_, StoreError>(
                diesel::RunQueryDsl::get_result::<N>(diesel::sql_query(sql), conn)?.n,
            )
        })
        .unwrap()
}

fn text(store: &Store, sql: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
    }
    store
        .read(|conn| {
            Ok::<_, StoreError>(
                diesel::RunQueryDsl::get_result::<T>(diesel::sql_query(sql), conn)?.t,
            )
        })
        .unwrap()
}

/// A small but complete database: an account, a service, a webhook with a sealed secret,
/// old and new events with settled and pending deliveries and their attempts, notifications
/// final and open, archived claims, nonces, audit entries and changes.
fn fill(store: &Store, key: &SecretKey, now: i64) {
    let old = now - 40 * DAY;
    let sealed = key.seal(&Secret::new("whsec_kept".to_owned()), "wh_1");
    exec(
        store,
        &format!(
            "INSERT INTO accounts (id, email, namespace, password_hash, created_at, updated_at) \
             VALUES ('acc_1', 'ada@example.com', 'ada', '$argon2id$x', {old}, {old});
             INSERT INTO services (id, namespace, slug, name, created_at, updated_at) \
             VALUES ('svc_1', 'ada', 'ide', 'IDE ‘quoted’ \"name\"', {old}, {old});
             INSERT INTO webhook_endpoints (id, service_id, url, format, events, secret_sealed, \
             enabled, created_at, updated_at, consecutive_failures) VALUES \
             ('wh_1', 'svc_1', 'https://example.com/hook', 'atp', '[\"notification.responded\"]', \
             '{sealed}', TRUE, {old}, {old}, 0);
             INSERT INTO events (id, service_id, namespace, event_type, payload, created_at) VALUES \
             ('evt_old_done', 'svc_1', 'ada', 'x', '{{\"a\":1}}', {old}), \
             ('evt_old_pending', 'svc_1', 'ada', 'x', '{{\"a\":2}}', {old}), \
             ('evt_old_orphan', 'svc_1', 'ada', 'x', '{{}}', {old}), \
             ('evt_new', 'svc_1', 'ada', 'x', '{{}}', {now});
             INSERT INTO deliveries (id, event_id, endpoint_id, status, attempt_count, \
             next_attempt_at, created_at, completed_at) VALUES \
             ('dlv_old_done', 'evt_old_done', 'wh_1', 'succeeded', 1, {old}, {old}, {old}), \
             ('dlv_old_pending', 'evt_old_pending', 'wh_1', 'pending', 3, {old}, {old}, NULL), \
             ('dlv_new', 'evt_new', 'wh_1', 'succeeded', 1, {now}, {now}, {now});
             INSERT INTO delivery_attempts (id, delivery_id, attempted_at, status_code, \
             duration_ms, response_excerpt, request_headers) VALUES \
             ('att_1', 'dlv_old_done', {old}, 200, 5, 'ok', '{{}}'), \
             ('att_2', 'dlv_old_pending', {old}, 503, 5, 'busy', '{{}}'), \
             ('att_3', 'dlv_new', {now}, 200, 5, 'fresh', '{{}}');
             INSERT INTO notifications (id, namespace, service_id, service_slug, service_name, \
             context, actions, status, sent_at, created_at, updated_at) VALUES \
             ('n_old_final', 'ada', 'svc_1', 'ide', 'IDE', '{{}}', '[]', 'responded', {old}, {old}, {old}), \
             ('n_old_open', 'ada', 'svc_1', 'ide', 'IDE', '{{}}', '[]', 'delivered', {old}, {old}, {old}), \
             ('n_new_final', 'ada', 'svc_1', 'ide', 'IDE', '{{}}', '[]', 'expired', {now}, {now}, {now});
             INSERT INTO claim_history (claim_id, namespace, service_id, public_key, status, \
             created_at, archived_at) VALUES \
             ('clm_old', 'ada', 'svc_1', 'pk', 'rejected', {old}, {}), \
             ('clm_new', 'ada', 'svc_1', 'pk', 'rejected', {now}, {now});
             INSERT INTO nonces (scope, value, expires_at) VALUES \
             ('s', 'spent', {old}), ('s', 'live', {});
             INSERT INTO audit_log (namespace, actor, action, target_id, details, created_at) VALUES \
             ('ada', 'cli', 'account.created', 'acc_1', '{{}}', {old}), \
             ('ada', 'cli', 'service.created', 'svc_1', '{{}}', {old});
             INSERT INTO changes (namespace, subject_id, kind, payload, created_at) VALUES \
             ('ada', 'n_old_open', 'notification', '{{}}', {now}), \
             ('ada', 'n_new_final', 'notification', '{{}}', {now});",
            old - 400 * DAY,
            now + DAY,
        ),
    );
}

fn retention_prunes_old_finished_rows_and_keeps_the_rest(engine: Engine) {
    let db = TestDatabase::new(engine);
    let key = SecretKey::generate();
    let now = Timestamp::now();
    fill(&db.store, &key, now.as_millis());
    let retention = Retention {
        response_bodies: Some(Duration::from_secs(86_400)),
        notifications: Some(Duration::from_secs(30 * 86_400)),
        ..Retention::default()
    };
    // Batches of one, two per kind and call: it takes calls, each short, to finish.
    let first = db.store.prune(&retention, now, 1, 2).unwrap();
    let mut total = first;
    loop {
        let more = db.store.prune(&retention, now, 1, 2).unwrap();
        if more.total() == 0 {
            break;
        }
        total.deliveries += more.deliveries;
        total.events += more.events;
        total.response_bodies += more.response_bodies;
    }
    assert_eq!(total.deliveries, 1, "{total:?}");
    let ids = |sql: &str| count(&db.store, sql);
    // The settled old delivery and its attempt are gone; the pending one and the new stay.
    assert_eq!(
        ids("SELECT COUNT(*) AS n FROM deliveries WHERE id = 'dlv_old_done'"),
        0
    );
    assert_eq!(ids("SELECT COUNT(*) AS n FROM deliveries"), 2);
    assert_eq!(
        ids("SELECT COUNT(*) AS n FROM delivery_attempts WHERE id = 'att_1'"),
        0
    );
    // The pending delivery's event (and its attempt log) stay, whatever their age.
    assert_eq!(
        ids("SELECT COUNT(*) AS n FROM events WHERE id IN ('evt_old_pending', 'evt_new')"),
        2
    );
    assert_eq!(ids("SELECT COUNT(*) AS n FROM events"), 2);
    assert_eq!(
        ids(
            "SELECT COUNT(*) AS n FROM delivery_attempts WHERE id = 'att_2' AND response_excerpt = ''"
        ),
        1,
        "an old response body is emptied"
    );
    assert_eq!(
        ids(
            "SELECT COUNT(*) AS n FROM delivery_attempts WHERE id = 'att_3' AND response_excerpt = 'fresh'"
        ),
        1
    );
    // Old final notifications go; open ones stay whatever their age.
    assert_eq!(
        ids("SELECT COUNT(*) AS n FROM notifications WHERE id = 'n_old_final'"),
        0
    );
    assert_eq!(ids("SELECT COUNT(*) AS n FROM notifications"), 2);
    assert_eq!(ids("SELECT COUNT(*) AS n FROM claim_history"), 1);
    assert_eq!(
        ids("SELECT COUNT(*) AS n FROM nonces WHERE value = 'live'"),
        1
    );
    assert_eq!(ids("SELECT COUNT(*) AS n FROM nonces"), 1);
    // The audit log is kept unless asked, and append-only to anyone else.
    assert_eq!(ids("SELECT COUNT(*) AS n FROM audit_log"), 2);
    let refused = db.store.write(|conn| {
        conn.batch_execute("DELETE FROM audit_log")?;
        Ok::<_, StoreError>(())
    });
    assert!(refused.is_err(), "the audit log refuses a plain delete");
    let audit = Retention {
        audit_log: Some(Duration::from_secs(86_400)),
        ..keep_nothing_but_audit()
    };
    let pruned = db.store.prune(&audit, now, 1, 10).unwrap();
    assert_eq!(pruned.audit_log, 2, "{pruned:?}");
    exec(
        &db.store,
        &format!(
            "INSERT INTO audit_log (namespace, actor, action, target_id, details, created_at) \
             VALUES ('ada', 'cli', 'x', 'y', '{{}}', {})",
            now.as_millis()
        ),
    );
    assert_eq!(
        db.store.prune(&audit, now, 1, 10).unwrap().audit_log,
        0,
        "recent entries stay"
    );
    assert_eq!(ids("SELECT COUNT(*) AS n FROM audit_log"), 1);
    assert_eq!(ids("SELECT COUNT(*) AS n FROM audit_log_pruning"), 0);
    assert!(
        db.store
            .write(|conn| {
                conn.batch_execute("DELETE FROM audit_log")?;
                Ok::<_, StoreError>(())
            })
            .is_err(),
        "still append-only after a prune"
    );

    // Nothing kept: nothing pruned.
    let db = TestDatabase::new(engine);
    fill(&db.store, &key, now.as_millis());
    let keep_all = keep_nothing_but_audit();
    assert_eq!(db.store.prune(&keep_all, now, 100, 10).unwrap().total(), 0);
}

/// Keeps everything (the audit log included, as by default).
fn keep_nothing_but_audit() -> Retention {
    Retention {
        deliveries: None,
        response_bodies: None,
        events: None,
        notifications: None,
        claim_history: None,
        nonces: None,
        audit_log: None,
    }
}

fn other(engine: Engine) -> Engine {
    match engine {
        Engine::Sqlite => Engine::Postgres,
        Engine::Postgres => Engine::Sqlite,
    }
}

fn copy_moves_every_row_to_the_other_engine_and_back(engine: Engine) {
    let source = TestDatabase::new(engine);
    let key = SecretKey::generate();
    let now = Timestamp::now().as_millis();
    fill(&source.store, &key, now);
    let middle = TestDatabase::unmigrated(other(engine));

    // A wrong key is refused before anything is written (the target is not even migrated).
    let wrong = source
        .store
        .copy_to(
            Some(&middle.store),
            &SecretKey::generate(),
            CopyOptions::default(),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(
        matches!(wrong, CopyError::WrongKey(ref id) if id == "wh_1"),
        "{wrong}"
    );
    assert!(
        middle.store.pending_migrations().unwrap() > 0,
        "nothing was written"
    );

    // A dry run reads and checks everything and writes nothing.
    let dry = source
        .store
        .copy_to(
            Some(&middle.store),
            &key,
            CopyOptions {
                batch: 2,
                dry_run: true,
            },
            &mut |_| {},
        )
        .unwrap();
    assert!(dry.dry_run);
    assert!(middle.store.pending_migrations().unwrap() > 0);

    let mut seen = Vec::new();
    let report = source
        .store
        .copy_to(
            Some(&middle.store),
            &key,
            CopyOptions {
                batch: 2,
                dry_run: false,
            },
            &mut |p| seen.push((p.table.to_owned(), p.done, p.all_done, p.all_rows)),
        )
        .unwrap();
    assert_eq!(
        report.tables, dry.tables,
        "the dry run reports what the copy does"
    );
    let rows = |r: &assent_store::CopyReport, t: &str| {
        r.tables.iter().find(|x| x.table == t).map(|x| x.rows)
    };
    assert_eq!(rows(&report, "deliveries"), Some(3));
    assert_eq!(rows(&report, "audit_log"), Some(2));
    assert_eq!(rows(&report, "__diesel_schema_migrations"), None);
    // Parents first.
    let at = |t: &str| report.tables.iter().position(|x| x.table == t).unwrap();
    assert!(at("accounts") < at("services"));
    assert!(at("services") < at("webhook_endpoints"));
    assert!(at("events") < at("deliveries") && at("deliveries") < at("delivery_attempts"));
    let last = seen.last().unwrap();
    assert_eq!(last.2, last.3, "progress reaches every row");

    // The sealed secret opens in the target, ids and values are as they were.
    let sealed = text(
        &middle.store,
        "SELECT secret_sealed AS t FROM webhook_endpoints WHERE id = 'wh_1'",
    );
    assert_eq!(key.open(&sealed, "wh_1").unwrap().expose(), "whsec_kept");
    assert_eq!(
        text(&middle.store, "SELECT name AS t FROM services"),
        "IDE ‘quoted’ \"name\""
    );
    assert_eq!(
        count(
            &middle.store,
            "SELECT COUNT(*) AS n FROM webhook_endpoints WHERE enabled = TRUE"
        ),
        1
    );

    // Sequences continue after the copied ids: the next audit entry and change number rise.
    let max_seq = count(&middle.store, "SELECT MAX(seq) AS n FROM changes");
    exec(
        &middle.store,
        "INSERT INTO changes (namespace, subject_id, kind, payload, created_at) \
         VALUES ('ada', 'x', 'notification', '{}', 1)",
    );
    assert_eq!(
        count(&middle.store, "SELECT MAX(seq) AS n FROM changes"),
        max_seq + 1
    );
    exec(
        &middle.store,
        "INSERT INTO audit_log (namespace, actor, action, target_id, details, created_at) \
         VALUES ('ada', 'cli', 'x', 'y', '{}', 1)",
    );
    assert_eq!(
        count(&middle.store, "SELECT MAX(seq) AS n FROM audit_log"),
        3
    );

    // A second copy into the now non-empty target is refused, and changes nothing.
    let again = source
        .store
        .copy_to(
            Some(&middle.store),
            &key,
            CopyOptions::default(),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(matches!(again, CopyError::TargetNotEmpty { .. }), "{again}");

    // And back to the first engine: the same rows, table by table (the two added rows aside).
    exec(&middle.store, "DELETE FROM changes WHERE subject_id = 'x'");
    let back = TestDatabase::unmigrated(engine);
    let middle_report = middle
        .store
        .copy_to(Some(&back.store), &key, CopyOptions::default(), &mut |_| {})
        .unwrap();
    for table in &report.tables {
        let there = middle_report
            .tables
            .iter()
            .find(|t| t.table == table.table)
            .unwrap();
        if table.table == "audit_log" {
            assert_eq!(there.rows, 3);
        } else {
            assert_eq!(there, table, "{} survives the round trip", table.table);
        }
    }
}

fn backup_under_load_is_consistent(engine: Engine) {
    let db = TestDatabase::new(engine);
    if engine == Engine::Postgres {
        let refused = db
            .store
            .backup(std::path::Path::new("/tmp/never.db"))
            .unwrap_err();
        assert!(matches!(refused, StoreError::Unsupported(_)), "{refused}");
        return;
    }
    exec(
        &db.store,
        "INSERT INTO nonces (scope, value, expires_at) VALUES ('load', 'seed', 1)",
    );
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("backup.db");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (committed_before, committed_after) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut n = 0_i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                exec(
                    &db.store,
                    &format!(
                        "INSERT INTO nonces (scope, value, expires_at) VALUES ('load', 'v{n}', 1)"
                    ),
                );
                n += 1;
            }
            n
        });
        std::thread::sleep(Duration::from_millis(200));
        let before = count(&db.store, "SELECT COUNT(*) AS n FROM nonces");
        db.store.backup(&target).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (before, writer.join().unwrap())
    });
    assert!(committed_after > 0);
    let copy = Store::connect(target.to_str().unwrap(), &Default::default()).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let check = copy
        .read(|conn| {
            Ok::<_, StoreError>(
                diesel::RunQueryDsl::get_result::<Check>(
                    diesel::sql_query("PRAGMA integrity_check"),
                    conn,
                )?
                .integrity_check,
            )
        })
        .unwrap();
    assert_eq!(check, "ok");
    let rows = count(&copy, "SELECT COUNT(*) AS n FROM nonces");
    assert!(
        rows >= committed_before,
        "the backup holds every row committed before it ({rows} < {committed_before})"
    );
    assert_eq!(copy.pending_migrations().unwrap(), 0);
    // A backup never overwrites.
    assert!(db.store.backup(&target).is_err());
}

assent_store::on_both_engines!(
    retention_prunes_old_finished_rows_and_keeps_the_rest,
    copy_moves_every_row_to_the_other_engine_and_back,
    backup_under_load_is_consistent,
);

/// On SQLite the WAL is copied into the database file shortly after a commit, by the store's
/// checkpoint thread: the commit of 2 MB here is far under the 16,384 pages past which a
/// connection would checkpoint by itself, so without the thread the file would not grow until
/// the store closed.
#[test]
fn sqlite_checkpoints_commits_off_the_writer_soon_after() {
    let db = TestDatabase::new(Engine::Sqlite);
    let path = db
        .url
        .strip_prefix("sqlite://")
        .expect("a SQLite URL")
        .to_owned();
    let size = || std::fs::metadata(&path).expect("the database file").len();
    exec(
        &db.store,
        "CREATE TABLE bulk (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL \
         SELECT i + 1 FROM n WHERE i < 500) INSERT INTO bulk SELECT randomblob(4000) FROM n",
    );
    let written = 500 * 4000;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size() < written && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        size() >= written,
        "the database file has {} bytes: the WAL was not checkpointed",
        size()
    );
}
