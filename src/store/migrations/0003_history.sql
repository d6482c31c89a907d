-- Statistics history: one series per container (and one for the host) and three tiers of
-- points, 10-second, 1-minute and 1-hour. Each point covers [t, t + resolution) and keeps
-- the min, max and mean of every gauge over the samples in it, plus the last value of each
-- counter. Rollups fill the coarser tiers from the finer ones, and retention deletes old
-- points tier by tier.

-- container_id is the engine's full id, or '' for the host. name is the latest name seen,
-- so that the history of a removed container, or of the containers that carried a name
-- before it was re-created, can still be found by that name.
CREATE TABLE history_series (
    id           INTEGER PRIMARY KEY,
    container_id TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL
);
CREATE INDEX history_series_name ON history_series (name, last_seen);

-- The three tiers share one layout. The primary key (series_id, t) makes a range of one
-- series a single b-tree range scan. cpu_* is percent of one core (100 = one core),
-- memory_* bytes, *_rate bytes per second. Means of integer quantities are stored rounded
-- to whole numbers, which SQLite writes in fewer bytes than a fractional REAL.
CREATE TABLE history_10s (
    series_id             INTEGER NOT NULL REFERENCES history_series (id) ON DELETE CASCADE,
    t                     INTEGER NOT NULL,
    samples               INTEGER NOT NULL CHECK (samples > 0),
    cpu_min               REAL    NOT NULL,
    cpu_max               REAL    NOT NULL,
    cpu_avg               REAL    NOT NULL,
    memory_min            REAL    NOT NULL,
    memory_max            REAL    NOT NULL,
    memory_avg            REAL    NOT NULL,
    network_rx_rate_min   REAL    NOT NULL,
    network_rx_rate_max   REAL    NOT NULL,
    network_rx_rate_avg   REAL    NOT NULL,
    network_tx_rate_min   REAL    NOT NULL,
    network_tx_rate_max   REAL    NOT NULL,
    network_tx_rate_avg   REAL    NOT NULL,
    block_read_rate_min   REAL    NOT NULL,
    block_read_rate_max   REAL    NOT NULL,
    block_read_rate_avg   REAL    NOT NULL,
    block_write_rate_min  REAL    NOT NULL,
    block_write_rate_max  REAL    NOT NULL,
    block_write_rate_avg  REAL    NOT NULL,
    pids_min              REAL    NOT NULL,
    pids_max              REAL    NOT NULL,
    pids_avg              REAL    NOT NULL,
    memory_limit          INTEGER NOT NULL,
    network_rx            INTEGER NOT NULL,
    network_tx            INTEGER NOT NULL,
    block_read            INTEGER NOT NULL,
    block_write           INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)
) WITHOUT ROWID;

CREATE TABLE history_1m (
    series_id             INTEGER NOT NULL REFERENCES history_series (id) ON DELETE CASCADE,
    t                     INTEGER NOT NULL,
    samples               INTEGER NOT NULL CHECK (samples > 0),
    cpu_min               REAL    NOT NULL,
    cpu_max               REAL    NOT NULL,
    cpu_avg               REAL    NOT NULL,
    memory_min            REAL    NOT NULL,
    memory_max            REAL    NOT NULL,
    memory_avg            REAL    NOT NULL,
    network_rx_rate_min   REAL    NOT NULL,
    network_rx_rate_max   REAL    NOT NULL,
    network_rx_rate_avg   REAL    NOT NULL,
    network_tx_rate_min   REAL    NOT NULL,
    network_tx_rate_max   REAL    NOT NULL,
    network_tx_rate_avg   REAL    NOT NULL,
    block_read_rate_min   REAL    NOT NULL,
    block_read_rate_max   REAL    NOT NULL,
    block_read_rate_avg   REAL    NOT NULL,
    block_write_rate_min  REAL    NOT NULL,
    block_write_rate_max  REAL    NOT NULL,
    block_write_rate_avg  REAL    NOT NULL,
    pids_min              REAL    NOT NULL,
    pids_max              REAL    NOT NULL,
    pids_avg              REAL    NOT NULL,
    memory_limit          INTEGER NOT NULL,
    network_rx            INTEGER NOT NULL,
    network_tx            INTEGER NOT NULL,
    block_read            INTEGER NOT NULL,
    block_write           INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)
) WITHOUT ROWID;

CREATE TABLE history_1h (
    series_id             INTEGER NOT NULL REFERENCES history_series (id) ON DELETE CASCADE,
    t                     INTEGER NOT NULL,
    samples               INTEGER NOT NULL CHECK (samples > 0),
    cpu_min               REAL    NOT NULL,
    cpu_max               REAL    NOT NULL,
    cpu_avg               REAL    NOT NULL,
    memory_min            REAL    NOT NULL,
    memory_max            REAL    NOT NULL,
    memory_avg            REAL    NOT NULL,
    network_rx_rate_min   REAL    NOT NULL,
    network_rx_rate_max   REAL    NOT NULL,
    network_rx_rate_avg   REAL    NOT NULL,
    network_tx_rate_min   REAL    NOT NULL,
    network_tx_rate_max   REAL    NOT NULL,
    network_tx_rate_avg   REAL    NOT NULL,
    block_read_rate_min   REAL    NOT NULL,
    block_read_rate_max   REAL    NOT NULL,
    block_read_rate_avg   REAL    NOT NULL,
    block_write_rate_min  REAL    NOT NULL,
    block_write_rate_max  REAL    NOT NULL,
    block_write_rate_avg  REAL    NOT NULL,
    pids_min              REAL    NOT NULL,
    pids_max              REAL    NOT NULL,
    pids_avg              REAL    NOT NULL,
    memory_limit          INTEGER NOT NULL,
    network_rx            INTEGER NOT NULL,
    network_tx            INTEGER NOT NULL,
    block_read            INTEGER NOT NULL,
    block_write           INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)
) WITHOUT ROWID;

-- How far each coarser tier has been rolled up: every bucket that starts before `until`
-- is complete in that tier.
CREATE TABLE history_rollup (
    tier  TEXT    PRIMARY KEY CHECK (tier IN ('1m', '1h')),
    until INTEGER NOT NULL
) WITHOUT ROWID;
