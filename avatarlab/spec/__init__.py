"""What training and the runtime must agree on, in one place: stream rates and the specs that travel
with a model into its bundle. A leaf: it imports nothing else of avatarlab, and every layer may import it.

    stream   audio and video rates, mel rows per video frame, the log-mel floor
    avatar   AvatarSpec: a subject's image size, camera, head box and keypoint layout
"""
