import compiled

compiled.install()  # the suite runs against the per-event modules' build, as the workers do
