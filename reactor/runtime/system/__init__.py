"""System tables: one small model module per table, named with a leading underscore."""

from reactor.runtime.system.cron_jobs import CRON_JOBS, cron_jobs_table
from reactor.runtime.system.environment import (
    ENVIRONMENT_VARIABLES,
    environment_variables_table,
)
from reactor.runtime.system.inline_blobs import INLINE_BLOBS, inline_blobs_table
from reactor.runtime.system.migration_ids import MIGRATION_IDS, migration_ids_table
from reactor.runtime.system.mutation_outcomes import MutationJournal
from reactor.runtime.system.rate_limits import RATE_LIMITS, rate_limits_table
from reactor.runtime.system.scheduled_functions import (
    SCHEDULED_FUNCTIONS,
    scheduled_functions_table,
)
from reactor.runtime.system.storage_files import STORAGE, storage_table
from reactor.runtime.system.upload_tokens import UPLOAD_TOKENS, upload_tokens_table
from reactor.schema import TableDefinition


def system_tables() -> dict[str, TableDefinition]:
    """Every system table, keyed by name, for the catalog."""
    return {SCHEDULED_FUNCTIONS: scheduled_functions_table(),
            CRON_JOBS: cron_jobs_table(),
            ENVIRONMENT_VARIABLES: environment_variables_table(),
            RATE_LIMITS: rate_limits_table(),
            STORAGE: storage_table(),
            UPLOAD_TOKENS: upload_tokens_table(),
            INLINE_BLOBS: inline_blobs_table(),
            MIGRATION_IDS: migration_ids_table()}


__all__ = ["CRON_JOBS", "ENVIRONMENT_VARIABLES", "INLINE_BLOBS", "MIGRATION_IDS", "RATE_LIMITS",
           "SCHEDULED_FUNCTIONS", "STORAGE", "UPLOAD_TOKENS", "MutationJournal", "system_tables"]
