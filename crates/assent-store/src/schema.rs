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
        disabled_at -> Nullable<BigInt>,
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
        previous_secret_sealed -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<BigInt>,
        failing_since -> Nullable<BigInt>,
        disabled_at -> Nullable<BigInt>,
        disabled_reason -> Nullable<Text>,
        consecutive_failures -> Integer,
        last_error -> Nullable<Text>,
        signing_key_sealed -> Nullable<Text>,
        public_key -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        service_id -> Text,
        namespace -> Text,
        event_type -> Text,
        payload -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Text,
        event_id -> Text,
        endpoint_id -> Text,
        status -> Text,
        attempt_count -> Integer,
        next_attempt_at -> BigInt,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        completed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    delivery_attempts (id) {
        id -> Text,
        delivery_id -> Text,
        attempted_at -> BigInt,
        status_code -> Nullable<Integer>,
        duration_ms -> BigInt,
        error -> Nullable<Text>,
        response_excerpt -> Text,
        request_headers -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Text,
        account_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        last_seen_at -> Nullable<BigInt>,
        user_agent -> Nullable<Text>,
        address -> Nullable<Text>,
    }
}

diesel::table! {
    one_time_tokens (id) {
        id -> Text,
        purpose -> Text,
        token_hash -> Text,
        email -> Nullable<Text>,
        account_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
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
        client_addr -> Nullable<Text>,
    }
}

diesel::table! {
    audit_log_pruning (active) {
        active -> Integer,
    }
}

diesel::table! {
    nonces (scope, value) {
        scope -> Text,
        value -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    rate_buckets (key) {
        key -> Text,
        refilled_at -> BigInt,
    }
}

diesel::table! {
    login_failures (key) {
        key -> Text,
        failures -> Integer,
        window_ends -> BigInt,
    }
}

diesel::table! {
    stream_leases (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    claims (id) {
        id -> Text,
        namespace -> Text,
        service_id -> Text,
        service_slug -> Text,
        public_key -> Text,
        agent_key -> Text,
        agent_ip -> Nullable<Text>,
        subject -> Nullable<Text>,
        agent_id -> Nullable<Text>,
        agent_name -> Nullable<Text>,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        expires_at -> BigInt,
        approved_at -> Nullable<BigInt>,
        decided_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    claim_history (claim_id) {
        claim_id -> Text,
        namespace -> Text,
        service_id -> Text,
        public_key -> Text,
        status -> Text,
        created_at -> BigInt,
        approved_at -> Nullable<BigInt>,
        decided_at -> Nullable<BigInt>,
        archived_at -> BigInt,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        namespace -> Text,
        service_id -> Text,
        service_slug -> Text,
        service_name -> Text,
        service_icon -> Nullable<Text>,
        project -> Nullable<Text>,
        context -> Text,
        actions -> Text,
        status -> Text,
        sent_at -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
        deadline -> Nullable<BigInt>,
        status_reason -> Nullable<Text>,
        response -> Nullable<Text>,
    }
}

diesel::table! {
    policy_rules (namespace, id) {
        namespace -> Text,
        id -> Text,
        position -> Integer,
        rule -> Text,
        matched -> BigInt,
        last_matched_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    policy_settings (namespace) {
        namespace -> Text,
        max_pending -> Nullable<Integer>,
        max_pending_per_service -> Nullable<Integer>,
        sigilum -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    decisions (subject_id) {
        subject_id -> Text,
        namespace -> Text,
        decided_by -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        namespace -> Text,
        service_id -> Text,
        service_slug -> Text,
        action -> Text,
        args_digest -> Nullable<Text>,
        args_pattern -> Nullable<Text>,
        uses -> Text,
        expires_at -> Nullable<BigInt>,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        source_id -> Nullable<Text>,
        matched -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    changes (seq) {
        seq -> BigInt,
        namespace -> Text,
        subject_id -> Text,
        kind -> Text,
        payload -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    change_inbox (id) {
        id -> BigInt,
        namespace -> Text,
        subject_id -> Text,
        kind -> Text,
        payload -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    channels (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        address -> Text,
        events -> Text,
        quiet_start -> Nullable<Integer>,
        quiet_end -> Nullable<Integer>,
        throttle_seconds -> Integer,
        verified_at -> Nullable<BigInt>,
        last_sent_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
        push_keys_sealed -> Nullable<Text>,
        disabled_at -> Nullable<BigInt>,
        disabled_reason -> Nullable<Text>,
        expiry_lead_seconds -> Integer,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        channel_id -> Text,
        account_id -> Text,
        topic -> Text,
        status -> Text,
        attempt_count -> Integer,
        next_attempt_at -> BigInt,
        lease_until -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        item_count -> Integer,
        created_at -> BigInt,
        sent_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    message_items (id) {
        id -> Text,
        message_id -> Text,
        item_kind -> Text,
        item_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    decision_links (id) {
        id -> Text,
        token_hash -> Text,
        account_id -> Text,
        item_kind -> Text,
        item_id -> Text,
        action -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(api_keys -> services (service_id));
diesel::joinable!(sessions -> accounts (account_id));
diesel::joinable!(deliveries -> events (event_id));
diesel::joinable!(deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(delivery_attempts -> deliveries (delivery_id));
diesel::joinable!(user_tokens -> accounts (account_id));
diesel::joinable!(webhook_endpoints -> services (service_id));
diesel::joinable!(messages -> channels (channel_id));
diesel::joinable!(channels -> accounts (account_id));
diesel::joinable!(message_items -> messages (message_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    admin_tokens,
    services,
    api_keys,
    webhook_endpoints,
    sessions,
    user_tokens,
    audit_log,
    events,
    deliveries,
    delivery_attempts,
    nonces,
    rate_buckets,
    login_failures,
    stream_leases,
    claims,
    claim_history,
    notifications,
    changes,
    one_time_tokens,
    policy_rules,
    policy_settings,
    grants,
    decisions,
    channels,
    messages,
    message_items,
    decision_links,
);
