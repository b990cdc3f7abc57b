"""What a live process needs to load and drive the trained models, and no training code: it never imports
Lightning, Hydra, the command-line helpers, training or export code (tests/runtime/test_boundary.py).

    bundle            read and validate runtime bundles; format versions and their migrations
    avatar            the avatar bundle loader, and the avatar driven by a whole recording or keypoints
    streaming_avatar  16 kHz audio chunks in, frames with timestamps out (training's look-ahead)
    turn_predictor    the turn bundle loader and its streaming state (p_end, p_stable every 10 ms)
    response_policy   WAIT / DRAFT / COMMIT / DISCARD from the predictor, and two baselines
    vad, asr          voice activity (silero) and streaming recognition (Whisper on short windows)
    llm, llm_local    streaming chat: any OpenAI-compatible endpoint, or the embedded SmolLM2
    tts, persona      speech with word times (espeak-ng, piper), phrase splitting; who the avatar is
    timeline          one clock and one event timeline for every stage, per-stage CPU time
    conversation      the history as the model sees it: only what the listener heard of each reply
    interruptions     backchannel, false start, echo or barge-in, and the reply's playback state
"""
