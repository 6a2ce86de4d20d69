"""The reward suite: image rewards on renders shared through one cache, text rewards, and gates.

    from expander.rewards import RewardsConfig, get_reward_funcs, load_rewards_config
    cfg = load_rewards_config("configs/rewards/tiny.yaml")
    funcs, weights = get_reward_funcs(cfg)

One reward family per module: `aesthetics`, `faithfulness`, `safety`, `diversity`, `format`, `gates`;
`render_cache` renders each completion once; `registry` builds the TRL functions; `tiny` builds tiny
random reward models for offline tests.
"""

from expander.rewards.config import RewardsConfig, load_rewards_config
from expander.rewards.registry import RewardSuite, get_reward_funcs

__all__ = ["RewardSuite", "RewardsConfig", "get_reward_funcs", "load_rewards_config"]
