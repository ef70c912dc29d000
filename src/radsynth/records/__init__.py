"""Typed records of the files one stage writes and another reads: one dataclass per row (or per
file) and one reader/writer pair per file, so that a column is named, typed and checked once.

================================  ===========================  ================================
file                              record                       module
================================  ===========================  ================================
data/manifest.csv                 :class:`ManifestRow`         :mod:`radsynth.records.manifest`
train/losses.csv                  :class:`LossRow`             :mod:`radsynth.records.curves`
train/throughput.csv              ``ThroughputRow``            :mod:`radsynth.records.throughput`
fid_sweep/fid.csv                 :class:`FidRow`              :mod:`radsynth.records.curves`
ema-sweep's ema_sweep.csv, .json  ``EmaSweepRow``              :mod:`radsynth.records.ema_sweep`
compare/generators.csv            ``GeneratorRow``             :mod:`radsynth.records.generators`
checkpoints.json                  :class:`CheckpointChoice`    :mod:`radsynth.records.choice`
audit/neighbours.csv, pairs.csv   :class:`NeighbourRow`        :mod:`radsynth.records.audit`
screen/screen.csv                 :class:`ScreenRow`           :mod:`radsynth.records.screen`
review/screen_decisions.csv       ``ScreenDecision``           :mod:`radsynth.fates.records`
review/audit_adjudication.csv     ``AuditVerdict``             :mod:`radsynth.fates.records`
keep/images.csv                   ``ImageFate``                :mod:`radsynth.fates.records`
stats/stats.json                  :class:`StatsRecord`         :mod:`radsynth.records.stats`
stats/mrmc.json                   ``MrmcRecord``               :mod:`radsynth.records.mrmc`
================================  ===========================  ================================

Units: a **percentile** is 0-100 everywhere (the audit's ``percentile`` column, its
``flag_percentile``); rates, shares and p-values (the screen's ``frr``, ``p_*`` columns,
precision, recall) are fractions 0-1 and are not called percentiles. Readers check the range
and refuse a value outside it in one line; none converts between units.

Nothing here imports torch or numpy: the study server and the stats stage use these modules.
"""

from radsynth.records.audit import NeighbourRow, read_neighbours, read_pairs, write_neighbours
from radsynth.records.choice import CheckpointChoice, read_choice, write_choice
from radsynth.records.curves import FidRow, LossRow, read_fid, read_losses, write_fid, write_losses
from radsynth.records.manifest import ManifestRow, read_manifest, write_manifest
from radsynth.records.stats import StatsRecord, read_stats, write_stats

__all__ = [
    "CheckpointChoice",
    "FidRow",
    "LossRow",
    "ManifestRow",
    "NeighbourRow",
    "StatsRecord",
    "read_choice",
    "read_fid",
    "read_losses",
    "read_manifest",
    "read_neighbours",
    "read_pairs",
    "read_stats",
    "write_choice",
    "write_fid",
    "write_losses",
    "write_manifest",
    "write_neighbours",
    "write_stats",
]
