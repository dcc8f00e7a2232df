"""Video front end: frames, 2D keypoints, camera, temporal filtering, kinematic 3D initialization."""
