"""Scheduled ingestion jobs (seed 001): the workflow registry, jobs, runs and their history.

A job runs a registered workflow (:mod:`.workflows`) with its attribute values on a schedule
(:mod:`.schedule`: EventBridge Scheduler's expressions). Each run is one execution of the
job-run state machine (``statemachines/job_run.asl.json``, tasks in ``workflow/job_run.py``);
its steps are recorded on the run (:mod:`.models`) as they happen.
"""
