"""The stage lab: each stage's topology on real servers on 127.0.0.1, measured."""
