"""The tasks the state machines in ``statemachines/`` hand out: one module per state machine.

=============================  ====================  =========================================
state machine                  module                tasks
=============================  ====================  =========================================
``complete.asl.json``          :mod:`.complete`      check_files, promote, replay, upsert,
                                                     mark_retrying, mark_stalled, mark_failed
``abort.asl.json``             :mod:`.abort`         abort_cleanup
``revert.asl.json``            :mod:`.revert`        revert, revert_failed
``gc.asl.json``                :mod:`.gc`            sweep
``validate_large.asl.json``    :mod:`.validate_large`  plan_parts, validate_part, merge_parts,
                                                     split_failed
=============================  ====================  =========================================

Each task takes the :class:`~.context.TaskContext` and the execution's state (``input``) and
returns what the ASL stores at its ``ResultPath``; :mod:`.tasks` registers them by name and
:mod:`.entry` runs them for the tasks function. A task raises a ``batchgate.core.errors``
exception to fail; the class name becomes the Step Functions error name, so ``Retry``/``Catch``
route on it.
"""
