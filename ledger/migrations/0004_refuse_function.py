"""`ledger_short()`: lets the posting statement abort itself (PostgreSQL only); its text
and reason are in ledger/sql/ledger_short.pg.sql."""

from django.db import migrations

from config.sqlfiles import postgres_function
from ledger.sql import FOLDER


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_tighter_rules")]

    operations = [postgres_function(FOLDER, "ledger_short.pg", "ledger_short(text)")]
