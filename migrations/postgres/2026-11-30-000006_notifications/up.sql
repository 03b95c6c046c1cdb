-- ATP notifications: a service asks the owner of its namespace to choose among actions.
-- The service is copied as it was at submission (slug, name, icon), so a notification stays
-- readable after its service is renamed or deleted.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,        -- a UUID, the service's own or generated
    namespace TEXT NOT NULL,             -- whose owner decides
    service_id TEXT NOT NULL,            -- no foreign key: a deleted service's notifications stay
    service_slug TEXT NOT NULL,          -- the ATP service_id
    service_name TEXT NOT NULL,
    service_icon TEXT,
    project TEXT,                        -- context.project, for the project filter
    context TEXT NOT NULL,               -- JSON object: title, description, metadata, attachments
    actions TEXT NOT NULL,               -- JSON array of validated actions
    status TEXT NOT NULL CHECK (status IN ('created', 'delivered', 'acknowledged', 'responded', 'completed', 'expired', 'invalidated')),
    sent_at BIGINT NOT NULL,             -- the notification's `timestamp`
    created_at BIGINT NOT NULL,          -- when the server stored it; orders every listing
    updated_at BIGINT NOT NULL,
    deadline BIGINT,                     -- no deadline: it never expires on its own
    status_reason TEXT,                  -- why it was invalidated
    response TEXT                        -- JSON, once answered: the ATP webhook payload
);
CREATE INDEX notifications_namespace_created ON notifications (namespace, created_at);
CREATE INDEX notifications_pending_deadline ON notifications (deadline)
    WHERE status IN ('created', 'delivered', 'acknowledged') AND deadline IS NOT NULL;

-- Every change an owner's open clients must hear of (a new notification, a notification's
-- status update, a claim's new state), in commit order: the source of Server-Sent Events ids,
-- of resuming with Last-Event-ID, and of pushes on every replica. Rows are purged after a
-- retention period.
CREATE TABLE changes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace TEXT NOT NULL,
    subject_id TEXT NOT NULL,            -- the notification or claim it concerns
    kind TEXT NOT NULL CHECK (kind IN ('notification', 'status_update', 'claim')),
    payload TEXT NOT NULL,               -- the JSON pushed to clients
    created_at BIGINT NOT NULL
);
CREATE INDEX changes_namespace ON changes (namespace, seq);
CREATE INDEX changes_created ON changes (created_at);
