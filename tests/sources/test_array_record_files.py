"""ArrayRecordSource: sharded names, bad records raised or skipped and counted."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from datarax import Pipeline
from datarax.sources import ArrayRecordSource
from sample_data import IMAGE_LAYOUT, make_images, write_array_record

BAD = {3, 17, 18, 41}  # global indices of records written truncated


def write_shards(directory, n: int = 60, shards: int = 3, bad=frozenset()) -> tuple[str, dict]:
    """`images.array_record-0000i-of-00003` files holding n records in order."""
    data = make_images(n)
    records = [IMAGE_LAYOUT.encode({k: v[i] for k, v in data.items()}) for i in range(n)]
    records = [r[:10] if i in bad else r for i, r in enumerate(records)]
    per = n // shards
    for s in range(shards):
        write_array_record(directory / f"images.array_record-{s:05d}-of-{shards:05d}",
                           records[s * per:(s + 1) * per])
    return str(directory / "images.array_record"), data


def test_sharded_name_expands_to_every_shard_in_order(tmp_path):
    prefix, data = write_shards(tmp_path)
    source = ArrayRecordSource(f"{prefix}@3", decode_batch=IMAGE_LAYOUT)
    assert [f.rsplit("-", 3)[-3] for f in source.files] == ["00000", "00001", "00002"]
    np.testing.assert_array_equal(source.read_batch(np.arange(60))["image"], data["image"])
    globbed = ArrayRecordSource(f"{prefix}-*-of-00003", decode_batch=IMAGE_LAYOUT)
    assert globbed.files == source.files


def test_a_missing_shard_is_named(tmp_path):
    prefix, _ = write_shards(tmp_path)
    (tmp_path / "images.array_record-00001-of-00003").unlink()
    with pytest.raises(FileNotFoundError, match=r"names 3 shards but 1 are missing.*00001-of-00003"):
        ArrayRecordSource(f"{prefix}@3", decode_batch=IMAGE_LAYOUT)
    with pytest.raises(FileNotFoundError, match=r"3 shards but 1 are missing.*00001-of-00003"):
        ArrayRecordSource(f"{prefix}-*", decode_batch=IMAGE_LAYOUT)


def test_a_bad_record_error_names_file_and_index(tmp_path):
    prefix, _ = write_shards(tmp_path, bad=BAD)
    source = ArrayRecordSource(f"{prefix}@3", decode_batch=IMAGE_LAYOUT)
    with pytest.raises(ValueError, match=r"record 1 of 'images.array_record-00002-of-00003' "
                       r"\(global index 41\) failed to decode.*on_error='skip'"):
        source.read_batch(np.arange(40, 50))


def _skip_run(prefix, worker_count, start_state=None, steps=None):
    source = ArrayRecordSource(f"{prefix}@3", decode_batch=IMAGE_LAYOUT, on_error="skip")
    pipeline = Pipeline(source, batch_size=8, shuffle=True, seed=5, num_epochs=2,
                        worker_count=worker_count, record_ids=True)
    with pipeline:
        iterator = iter(pipeline)
        if start_state is not None:
            iterator.set_state(start_state)
        indices = []
        for batch in iterator:
            indices.append(np.asarray(batch["_index"]))
            if steps is not None and len(indices) == steps:
                break
        return indices, iterator.skipped, iterator.get_state()


def test_skipped_records_are_counted_logged_and_the_same_for_any_worker_count(tmp_path, caplog):
    prefix, _ = write_shards(tmp_path, bad=BAD)
    with caplog.at_level(logging.WARNING, logger="datarax"):
        in_process, skipped, _ = _skip_run(prefix, 0)
    assert skipped == 2 * len(BAD)  # every bad record, once per epoch
    assert sum("skipping record" in r.getMessage() for r in caplog.records) == 2 * len(BAD)
    seen = np.concatenate(in_process)
    assert len(seen) == 2 * (60 - len(BAD)) and not BAD & set(seen.tolist())
    with_workers, skipped_by_workers, _ = _skip_run(prefix, 2)
    assert skipped_by_workers == skipped
    assert [b.tolist() for b in with_workers] == [b.tolist() for b in in_process]
    # Resumed half way, the rest of the stream and the final count are unchanged.
    head, _, state = _skip_run(prefix, 0, steps=7)
    tail, skipped_after_resume, _ = _skip_run(prefix, 0, start_state=state)
    assert [b.tolist() for b in head + tail] == [b.tolist() for b in in_process]
    assert skipped_after_resume == skipped


def test_one_record_read_of_a_skipped_record_says_what_to_do(tmp_path):
    prefix, _ = write_shards(tmp_path, bad=BAD)
    source = ArrayRecordSource(f"{prefix}@3", decode_batch=IMAGE_LAYOUT, on_error="skip")
    with pytest.raises(ValueError, match=r"global index 3.*cannot skip.*datarax.Pipeline"):
        source[3]
