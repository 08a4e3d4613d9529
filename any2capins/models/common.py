"""Records every stage shares: the base record, error rows, completion records."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    """Base of every row model. Frozen: stages build new records instead of mutating inputs."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ErrorRecord(Record):
    """One item a stage could not process. For every stage: inputs = outputs + error rows."""

    stage: str
    shard: int
    clip_id: str | None = Field(None, description="None when the clip never got an id (ingest).")
    uri: str
    error_class: str = Field(description="Exception class name, e.g. DecodeError.")
    message: str = Field(description="Human-readable cause (the decoder's or server's words "
                         "kept), at most 2000 characters.")
    retriable: bool = Field(False, description="True for a transient cause (LLM timeout, "
                            "connection or server error, rate limit; unreadable file): a plain "
                            "rerun of the stage redoes the item; False: only a forced rerun or "
                            "changed settings or inputs redo it.")
    attempts: int = Field(1, description="Attempts behind the error in the write that recorded "
                          "it: for LLM stages the requests and generations made (retries and "
                          "re-asks included), otherwise 1 + the runner's retries of a retriable "
                          "failure.")
    detail: str | None = Field(None, description="Extra data: the traceback of an unexpected "
                               "exception (last 4000 characters), the per-section JSON of a "
                               "failed caption (raw LLM completions included) or the text of a "
                               "rejected short prompt; None when there is none.")
    time: datetime = Field(default_factory=utc_now,
                           description="When the error row was made (UTC).")


class TokenUsage(Record):
    """Tokens spent by LLM calls (all attempts, retries included)."""

    prompt_tokens: int = Field(0, description="Prompt (input) tokens the server reported.")
    completion_tokens: int = Field(0, description="Completion (output) tokens the server "
                                   "reported.")
    calls: int = Field(0, description="Requests made (retries and re-asks included).")
    cached_calls: int = Field(0, description="Calls answered from the cache (no request "
                              "made).")

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            calls=self.calls + other.calls,
            cached_calls=self.cached_calls + other.cached_calls,
        )


class ShardDone(Record):
    """Completion record of one (stage, shard). A shard is done iff this record exists."""

    stage: str
    shard: int
    input_rows: int = Field(description="Items read; always ok_items + error_rows + "
                            "skipped_items.")
    ok_items: int = Field(description="Items processed without failure.")
    output_rows: int = Field(description="Rows written (= ok_items except for fan-out stages).")
    error_rows: int = Field(description="Rows in the shard's error file (`_errors/<stage>/`), "
                            "kept ones included after a retry.")
    skipped_items: int = Field(0, description="Items the stage left out on purpose (e.g. clips "
                               "the curation filters did not keep): neither rows nor errors. "
                               "For every stage, input_rows = ok_items + error_rows + "
                               "skipped_items.")
    started: datetime = Field(description="When the latest write of the shard started (UTC).")
    finished: datetime = Field(description="When the latest write of the shard finished (UTC).")
    seconds: float = Field(description="Wall time of the latest write, in seconds: reading the "
                           "inputs and processing them (writing the files not included).")
    worker: str = Field(description="Host and process that wrote the shard.")
    usage: TokenUsage | None = Field(None, description="Token usage of everything in the shard.")
    # What the shard was made from (issue 11): a rerun redoes the shard when any of these differ.
    output_dir: str | None = Field(None, description="Folder of the stage's output shards.")
    fingerprint: str | None = Field(
        None, description="Hash of the settings that matter for the output (Stage.fingerprint).")
    settings: str | None = Field(
        None, description="Those settings as JSON text (to say which one changed).")
    upstream: dict[str, str] = Field(
        default_factory=dict, description="Identity of each input shard's completion record, by "
        "the folder it wrote ('absent' when there was none).")
    retriable_errors: int = Field(0, description="Error rows a plain rerun retries.")
    retried: int = Field(0, description="Items redone by the latest write as retries (0: a full "
                         "write of the shard).")
    run_usage: TokenUsage | None = Field(None, description="Token usage of the latest write only.")
    part_of: int | None = Field(None, description="For an ingest overflow shard: the source "
                                "shard whose clips continue here (a source shard's clips "
                                "beyond ingest.clips_per_shard); None otherwise.")

    def identity(self) -> str:
        """A short hash of what downstream shards depend on: when and what this shard wrote."""
        import hashlib

        key = [self.stage, self.shard, self.finished.isoformat(), self.input_rows,
               self.output_rows, self.error_rows, self.fingerprint]
        return hashlib.sha256(repr(key).encode()).hexdigest()[:16]
