-- The evaluation queue without a primary key. DuckDB takes a deleted key out
-- of its index at commit, some 30 us a row: emptying the queue after a
-- 40,000-batch ingest held the commit 1.3 s. The queue is written only by
-- kqc, which keeps one row per batch itself (store/writes.py, _enqueue).

CREATE TABLE evaluation_queue_unkeyed (
    batch_id  VARCHAR NOT NULL,
    queued_at TIMESTAMPTZ NOT NULL
);
INSERT INTO evaluation_queue_unkeyed
SELECT batch_id, max(queued_at) FROM evaluation_queue GROUP BY batch_id;
DROP TABLE evaluation_queue;
ALTER TABLE evaluation_queue_unkeyed RENAME TO evaluation_queue;
COMMENT ON TABLE evaluation_queue IS 'Batches whose results or register rows changed and whose flags are not yet re-evaluated, one row each. Written in the same transaction as the data, emptied by the evaluation, so a crash between the two loses nothing.';
COMMENT ON COLUMN evaluation_queue.batch_id IS 'The batch to re-evaluate.';
COMMENT ON COLUMN evaluation_queue.queued_at IS 'When its data last changed (UTC).';
