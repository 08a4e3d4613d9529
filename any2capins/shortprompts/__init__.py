"""Short prompts: user-style prompts per (clip, condition set) from approved captions."""
