"""Checks that stand alone: re-verify a target table against its contract and its audit rows.

A load gates rows on their way in; these checks look at what the table holds now, so they also
catch what other writers did to it, and they work on tables dpone did not load at all (then the
audit checks are skipped). The Airflow ``DponeCheckOperator``, Dagster's standalone asset checks
and ``dpone check`` all call :func:`dpone_core.verification.table_check.check_table`.
"""
