//! The diesel schema, shared by both backends. Only types both support go here: text ids,
//! `BigInt` milliseconds, booleans, JSON as text.

diesel::table! {
    accounts (id) {
        id -> Text,
        email -> Text,
        namespace -> Text,
        password_hash -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    admin_tokens (id) {
        id -> Text,
        token_hash -> Text,
        label -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    services (id) {
        id -> Text,
        namespace -> Text,
        slug -> Text,
        name -> Text,
        description -> Nullable<Text>,
        icon_url -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        service_id -> Text,
        name -> Text,
        prefix -> Text,
        key_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        service_id -> Text,
        url -> Text,
        format -> Text,
        events -> Text,
        secret_sealed -> Text,
        enabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Text,
        account_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    user_tokens (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        prefix -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_log (seq) {
        seq -> BigInt,
        namespace -> Text,
        actor -> Text,
        action -> Text,
        target_id -> Text,
        details -> Text,
        created_at -> BigInt,
    }
}

diesel::joinable!(api_keys -> services (service_id));
diesel::joinable!(sessions -> accounts (account_id));
diesel::joinable!(user_tokens -> accounts (account_id));
diesel::joinable!(webhook_endpoints -> services (service_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    admin_tokens,
    services,
    api_keys,
    webhook_endpoints,
    sessions,
    user_tokens,
    audit_log,
);
