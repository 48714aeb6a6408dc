"""`tournaments_verify(tournament)`: what the deferred triggers check at commit
(PostgreSQL); its text and reason are in tournaments/sql/tournaments_verify.pg.sql."""

from django.db import migrations

from config.sqlfiles import postgres_function
from tournaments.sql import FOLDER


class Migration(migrations.Migration):
    dependencies = [("tournaments", "0001_initial")]

    operations = [
        postgres_function(FOLDER, "tournaments_verify.pg", "tournaments_verify(bigint)")
    ]
