"""MuJoCo humanoid, simulation, differentiable rollouts, reconstruction loss and windowed optimization."""
