//! Admin tokens: operator credentials, stored as SHA-256 hashes.

use assent_auth::TokenHash;
use assent_core::Timestamp;
use diesel::prelude::*;

use crate::db::Store;
use crate::error::{StoreError, conflict_as};
use crate::schema::admin_tokens;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    pub id: String,
    pub label: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = admin_tokens)]
struct AdminTokenRow {
    id: String,
    label: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<AdminTokenRow> for AdminToken {
    fn from(row: AdminTokenRow) -> Self {
        Self {
            id: row.id,
            label: row.label,
            created_at: Timestamp::from_millis(row.created_at),
            last_used_at: row.last_used_at.map(Timestamp::from_millis),
            revoked_at: row.revoked_at.map(Timestamp::from_millis),
        }
    }
}

impl Store {
    /// Stores a new admin token by its hash.
    pub fn create_admin_token(
        &self,
        hash: &TokenHash,
        label: &str,
    ) -> Result<AdminToken, StoreError> {
        let now = Timestamp::now().as_millis();
        let token = AdminToken {
            id: assent_auth::random::Id::AdminToken.mint(),
            label: label.to_owned(),
            created_at: Timestamp::from_millis(now),
            last_used_at: None,
            revoked_at: None,
        };
        self.write(|conn| insert(conn, &token, hash))?;
        Ok(token)
    }

    /// Creates the bootstrap token only if no admin token was ever stored, atomically, so two
    /// replicas starting together cannot both create one. Returns whether it was created.
    pub fn bootstrap_admin_token(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let any = diesel::select(diesel::dsl::exists(
                admin_tokens::table.select(admin_tokens::id),
            ))
            .get_result::<bool>(conn)?;
            if any {
                return Ok(false);
            }
            let token = AdminToken {
                id: assent_auth::random::Id::AdminToken.mint(),
                label: "bootstrap".to_owned(),
                created_at: Timestamp::from_millis(now),
                last_used_at: None,
                revoked_at: None,
            };
            insert(conn, &token, hash)?;
            Ok(true)
        })
    }

    /// The active (unrevoked) admin token with this hash.
    pub fn find_admin_token(&self, hash: &TokenHash) -> Result<Option<AdminToken>, StoreError> {
        self.read(|conn| {
            Ok(admin_tokens::table
                .filter(admin_tokens::token_hash.eq(hash.as_str()))
                .filter(admin_tokens::revoked_at.is_null())
                .select(AdminTokenRow::as_select())
                .first(conn)
                .optional()?
                .map(AdminToken::from))
        })
    }

    pub fn list_admin_tokens(&self) -> Result<Vec<AdminToken>, StoreError> {
        self.read(|conn| {
            Ok(admin_tokens::table
                .order(admin_tokens::created_at.asc())
                .select(AdminTokenRow::as_select())
                .load(conn)?
                .into_iter()
                .map(AdminToken::from)
                .collect())
        })
    }

    /// Revokes an active token; `NotFound` if there is no active token with that id.
    pub fn revoke_admin_token(&self, id: &str) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(|conn| {
            let updated = diesel::update(
                admin_tokens::table
                    .filter(admin_tokens::id.eq(id))
                    .filter(admin_tokens::revoked_at.is_null()),
            )
            .set(admin_tokens::revoked_at.eq(now))
            .execute(conn)?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
    }
}

fn insert(
    conn: &mut crate::AnyConnection,
    token: &AdminToken,
    hash: &TokenHash,
) -> Result<(), StoreError> {
    diesel::insert_into(admin_tokens::table)
        .values((
            admin_tokens::id.eq(&token.id),
            admin_tokens::token_hash.eq(hash.as_str()),
            admin_tokens::label.eq(&token.label),
            admin_tokens::created_at.eq(token.created_at.as_millis()),
        ))
        .execute(conn)
        .map_err(conflict_as("admin token"))?;
    Ok(())
}
