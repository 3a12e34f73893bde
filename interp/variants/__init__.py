"""Model variants beyond the standard TransformerBridge, as TransformerLens `HookedRootModule`s with HookedTransformer hook names."""
