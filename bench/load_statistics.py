"""The load bench's stand-in for PostgreSQL's autovacuum, on a server where it is switched off.

Kept apart from ``load.py`` (the locustfile and orchestrator); the orchestrator starts it in a thread.
"""

from __future__ import annotations

import threading


def libpq_url(database_url: str) -> str:
    """``DATABASE_URL`` (``postgres://`` as dj-database-url takes it) as psycopg connects to it."""
    return database_url.replace("postgres://", "postgresql://", 1)


class StatisticsKeeper(threading.Thread):
    """What PostgreSQL's autovacuum daemon does for the planner and the indexes, on a server where it is off.

    Production PostgreSQL runs autovacuum (the default). Every ``autovacuum_naptime`` it analyzes a
    table once more than ``autovacuum_analyze_threshold + autovacuum_analyze_scale_factor × rows``
    of it changed, and vacuums one with enough dead or newly inserted rows (the ``vacuum`` and
    ``vacuum_insert`` thresholds and scale factors); both merge the pending entries of the table's
    GIN indexes (the trigram search indexes) into the index proper. A server with autovacuum off (as
    on some development machines) keeps the statistics of the empty tables the migrations left, so
    the planner reads a growing table as if it were empty (an index lookup turning into a scan of
    every link of a source), and lets the GIN pending lists grow until an insert has to merge 4 MB
    of them while the request waits. Where ``SHOW autovacuum`` says off, this thread applies the
    same rules with the server's own settings, at autovacuum's pace (its cost-based delay).
    """

    SETTINGS = (
        "autovacuum_naptime", "autovacuum_analyze_threshold", "autovacuum_analyze_scale_factor",
        "autovacuum_vacuum_threshold", "autovacuum_vacuum_scale_factor", "autovacuum_vacuum_insert_threshold",
        "autovacuum_vacuum_insert_scale_factor", "autovacuum_vacuum_cost_delay", "autovacuum_vacuum_cost_limit",
        "vacuum_cost_limit",
    )  # fmt: skip

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True, name="statistics-keeper")
        self.url = libpq_url(database_url)
        self.stopping = threading.Event()
        self.analyzed = self.vacuumed = 0

    @staticmethod
    def needed(database_url: str) -> bool:
        import psycopg

        with psycopg.connect(libpq_url(database_url)) as conn:
            return conn.execute("SHOW autovacuum").fetchone()[0] == "off"

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(self.SETTINGS)])
            setting = {name: float(value) for name, value in rows.fetchall()}
            # Autovacuum's pace, not a manual VACUUM's full speed: it sleeps whenever it has done its share of I/O.
            limit = setting["autovacuum_vacuum_cost_limit"]
            conn.execute(f"SET vacuum_cost_delay = {setting['autovacuum_vacuum_cost_delay']}")
            conn.execute(f"SET vacuum_cost_limit = {int(limit if limit > 0 else setting['vacuum_cost_limit'])}")
            while True:
                due = conn.execute(
                    "SELECT format('%%I.%%I', schemaname, relname), relid,"
                    " n_dead_tup > %s + %s * n_live_tup OR n_ins_since_vacuum > %s + %s * n_live_tup,"
                    " n_mod_since_analyze > %s + %s * n_live_tup "
                    "FROM pg_stat_user_tables",
                    [setting["autovacuum_vacuum_threshold"], setting["autovacuum_vacuum_scale_factor"],
                     setting["autovacuum_vacuum_insert_threshold"], setting["autovacuum_vacuum_insert_scale_factor"],
                     setting["autovacuum_analyze_threshold"], setting["autovacuum_analyze_scale_factor"]],
                ).fetchall()  # fmt: skip
                for table, relid, vacuum, analyze in due:
                    if vacuum:  # also merges the GIN pending lists
                        conn.execute(f"VACUUM {'(ANALYZE) ' if analyze else ''}{table}")
                        self.vacuumed += 1
                    elif analyze:  # autovacuum's analyze merges them too (a plain ANALYZE does not)
                        conn.execute(f"ANALYZE {table}")
                        conn.execute(
                            "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i JOIN pg_class c"
                            " ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
                            " WHERE i.indrelid = %s AND a.amname = 'gin'",
                            [relid],
                        )
                    self.analyzed += bool(analyze)
                if self.stopping.wait(setting["autovacuum_naptime"]):
                    return
