"""The early-response turn predictor: when does the user's turn end, and does a reply drafted now still fit?

Training and evaluation live here; the live predictor and the response policy are in avatarlab.runtime,
the exporter in avatarlab.export.turn.

Modules, one job each:

    format      the JSONL corpus format: Turn, Word, read_corpus (names the line and field of bad entries)
    templates   template families (statements, questions, requests, lists, stories) and their late endings
    tts         espeak-ng through libespeak-ng: speech with per-word start times
    generator   compose a turn from a family, speak it, set its pauses, add noise
    corpus      `python -m avatarlab.turn.corpus`: the generated corpus, split by family
    transcribe  `python -m avatarlab.turn.transcribe AUDIO... out=FILE.jsonl`: corpus lines from recordings
    real        `python -m avatarlab.turn.real`: real conversations (speaker timings) and monologues as turns
    prosody     causal 100 Hz frames: energy, pitch (librosa YIN), periodicity, voice activity
    lexical     closed-class word categories and late-word cues
    embed       prefix sentence embeddings (all-MiniLM-L6-v2, int8, traced), static word pieces, the cache
    features    word, tick and pair features shared by training and the live predictor
    tables      a corpus replayed into cached training arrays
    datamodule  LightningDataModule over the tables
    model       TurnModel: p_end and p_stable heads
    module      LightningModule
    replay      a recorded turn through the runtime's predictor and policies, tick by tick
    report      the evaluation figures, table and latency histogram
    cutoff      the field's figures: false cut-offs at a fixed wait, the wait for a rate, bootstrap intervals
    evaluate    `python -m avatarlab.turn.evaluate bundle=DIR corpus=FILE.jsonl`
    loro        `python -m avatarlab.turn.loro`: real speech, leave one recording out
    metrics     ROC AUC, F1
"""
