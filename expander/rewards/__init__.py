"""The reward suite: image rewards on renders shared through one cache, text rewards, and gates.

    from expander.rewards import RewardSuite, load_rewards_config
    cfg = load_rewards_config("configs/rewards/tiny.yaml")
    suite = RewardSuite(cfg, num_generations=4)   # suite.funcs, suite.weights; get_reward_funcs(cfg) returns just those

One reward family per module: `aesthetics`, `faithfulness`, `safety`, `diversity` (DINOv3, images),
`text_diversity` (MiniLM, texts; also `distinct_n`), `added_subjects`, `format`, `gates`; `vqa` (VQAScore-style
P("Yes") over a question graph: the `faithfulness_vqa` reward). `render_cache` renders each completion once
(`renderer`, `render_settings`); `suite` holds `RewardSuite`, which builds the TRL functions (`registry`: the
reward names a config may list; `inputs`: TRL's inputs parsed); `remote` and `server` are the reward service;
`tiny` builds tiny random reward models for offline tests. Public benchmarks: `geneval_rules` (GenEval's detector
rules, pure), `detector` + `geneval_scorer` (the Mask2Former scorer), `question_graph` (DPG-Bench's parent rule),
`prompt_questions` (the graph built from a short prompt), `prompt_scorers` (the scorer interface),
`benchmark_data` (their shipped files). This module only re-exports.
"""

from expander.rewards.config import RewardsConfig, load_rewards_config
from expander.rewards.suite import RewardSuite, get_reward_funcs

__all__ = ["RewardSuite", "RewardsConfig", "get_reward_funcs", "load_rewards_config"]
