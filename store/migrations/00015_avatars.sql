-- Avatars: the picture a user chooses, which visitors see beside their
-- messages. Public by nature (any visitor of the user's chats sees it).

-- +goose Up
CREATE TABLE avatars (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    body       BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE avatars;
