"""The durable_rules backend: the IR compiled into a Rete network of the durable_rules C engine.

Every sharp edge of durable_rules 2.0.28 is fenced in this package, and nowhere else in the library
touches it. What each fence is for (``docs/durable.md`` has the measurements):

- **No Host, no DSL.** ``durable.lang`` keeps global state and ``engine.Host`` starts two
  background timer threads per host that race our callers (lost findings, segfaults). We drive the
  C core (``durable_rules_engine``) directly from a plain ruleset definition: no thread is ever
  started, every action runs on the calling thread inside :meth:`DurableBackend.evaluate`.
- **One lock per compiled ruleset.** The C core has no locks of its own. Evaluations of one Engine
  are serialised (under the GIL this costs nothing: the C calls never release it).
- **One session per evaluation, always deleted.** A fresh ``sid`` per claim, ``delete_state`` in
  ``finally`` (after ``abandon_action`` if an action failed). The C engine caps live sessions at
  1,024 per ruleset and segfaults when the session that hit the cap is touched again; with the lock
  at most one session is ever alive, and a claim whose evaluation fails leaves none behind.
- **A begin fact per session.** ``delete_state`` frees two pointers that are only initialised when
  an action has run in the session; a no-op ``__begin__`` rule guarantees one always has.
- **Facts, never events; unique ids.** Events are consumed by the first rule that fires; facts with
  equal content collide unless each has its own ``id``.
- **Strata behind gate facts.** ``$not`` in durable_rules is decided once, when the facts to its
  left arrive; a negated fact asserted later does not cancel the match (measured). Rules that read
  derived facts therefore start with a ``__gate__`` pattern for their stratum, and the gate is
  asserted only once every lower stratum has finished, so every join sees complete facts.
- **Compile-time limits.** 512 sibling tests on one field make the first assert spin forever; more
  than 64 alpha tests matching one fact fail at run time; rule names and properties have caps. The
  translator counts and refuses such rulesets with a :class:`RulesetError` before durable sees them.
- **Rulesets are freed.** The Host API never frees a C ruleset; we call ``delete_ruleset`` when the
  backend is garbage collected.

What the network evaluates: the type of each fact, joins between facts on their keys, negation,
and exact equality/membership tests on strings, integers and booleans. Everything else in a
condition (vocabulary functions, exact decimal arithmetic, dates) runs as a Python guard in the
rule's action, like a CLIPS ``test`` element, generated from the same IR as the python backend.

The package, by job: :mod:`.translate` turns the IR into the ruleset definition and a plan per
rule (network tests, Python guard, gates); :mod:`.network` models the alpha network the C engine
will build and refuses what it cannot run (:func:`check_limits`); :mod:`.session` is the
:class:`DurableBackend` itself (the C engine, sessions, the lock, actions, derived facts).
The names below are re-exported for callers and tests; to replace one in a test, patch it in the
module that defines it (``network.check_limits``), which is where the backend looks it up.
"""

from __future__ import annotations

from .network import _alpha_network, _stack_needed, check_limits
from .session import DurableBackend, DurableUnavailable, _import_engine
from .translate import translate

__all__ = [
    "DurableBackend",
    "DurableUnavailable",
    "_alpha_network",
    "_import_engine",
    "_stack_needed",
    "check_limits",
    "translate",
]
