"""The filter stage: clips/ shard N -> quality/ shard N, the quality signals of every clip and
its per-clip decision (dark, static, blur, text, aesthetic). Near-duplicates are decided across
the whole run afterwards (`resolve_near_duplicates`)."""

from __future__ import annotations

from collections.abc import Sequence

from any2capins.config.filter import FilterConfig
from any2capins.curation.filters import quality_record
from any2capins.errors import DecodeError
from any2capins.io.frames import FrameRequest
from any2capins.models.clips import ClipRecord
from any2capins.models.quality import QualityRecord
from any2capins.models.tables import folder
from any2capins.runtime.frames import frames_failure
from any2capins.runtime.inputs import Inputs
from any2capins.runtime.stage import Failure, Stage


class QualityStage(Stage[ClipRecord, QualityRecord]):
    name = "filter"
    input_model = ClipRecord
    output_model = QualityRecord
    input_dir = folder("clips")
    output_dir = folder("quality")

    def __init__(self, config: FilterConfig) -> None:
        super().__init__(config.resources)
        self.config = config
        self.scorer = None

    def frames(self) -> FrameRequest:
        return self.config.sampling.request()

    def fingerprint(self) -> dict:
        """The signals and the per-clip rules; the dedup settings are applied after the stage
        (`resolve_near_duplicates`), so changing them does not redo the signals."""
        out = super().fingerprint()
        out["config"] = {k: v for k, v in out["config"].items() if k != "dedup"}
        return out

    def setup(self) -> None:
        from any2capins.curation.signals import QualityScorer

        self.scorer = QualityScorer(self.config)
        self.scorer.load()

    def process_batch(self, batch: Sequence[ClipRecord],
                      inputs: Inputs) -> list[QualityRecord | Failure]:
        return [self._one(clip, inputs) for clip in batch]

    def _one(self, clip: ClipRecord, inputs: Inputs) -> QualityRecord | Failure:
        try:
            sampled = inputs.frames(clip.clip_id)
        except DecodeError as exc:
            return frames_failure(exc)
        signals = self.scorer.score(sampled.frames, sampled.timestamps)
        return quality_record(clip.clip_id, clip.uri, signals, self.config,
                              frame_indices=sampled.indices, timestamps=sampled.timestamps,
                              decode_warnings=[str(w)[:300] for w in sampled.warnings][:50])
