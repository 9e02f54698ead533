-- offer_visits rolls up the proactive offers of each visit, per rule and
-- variant (offer or control): how many times each stage happened, when the
-- offer was first decided in the visit (start_ts: qualified, else shown),
-- and whether one of the site's goals followed it (converted). The ingester
-- keeps it in the transaction that stores the events; the offers report and
-- its lift against the control group read it.

-- +goose Up
CREATE TABLE offer_visits (
    site      INTEGER NOT NULL,
    visit     TEXT NOT NULL,
    rule      TEXT NOT NULL,
    variant   TEXT NOT NULL,
    visitor   TEXT NOT NULL,
    version   INTEGER NOT NULL DEFAULT 0,
    start_ts  INTEGER NOT NULL,
    qualified INTEGER NOT NULL DEFAULT 0,
    shown     INTEGER NOT NULL DEFAULT 0,
    accepted  INTEGER NOT NULL DEFAULT 0,
    declined  INTEGER NOT NULL DEFAULT 0,
    dismissed INTEGER NOT NULL DEFAULT 0,
    chats     INTEGER NOT NULL DEFAULT 0,
    converted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, visit, rule, variant)
) WITHOUT ROWID;
CREATE INDEX offer_visits_visitor ON offer_visits(site, visitor);

-- +goose Down
DROP TABLE offer_visits;
