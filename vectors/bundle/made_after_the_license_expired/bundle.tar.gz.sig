untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/lFttpzBCLXomOMU6gNvXEV0j8AKymf+TLoi5Vx7QSTjNzGkZmWPnTXnOJypfhl88fR/kRxMbV0bIiAeKZIA8Aw=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
XK3vD8/9PDBiZQ4w+NGrRZZgm3DDNoJClHw7pZTVNBmLqucJGhqSNpV1aIDaC9x73Ya4LXM26a1G+Gy9mHtgCA==
