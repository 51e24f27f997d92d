"""Model definitions: one nn.Module per idea, each built from a small config dataclass."""
