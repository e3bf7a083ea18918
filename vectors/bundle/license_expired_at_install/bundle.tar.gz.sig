untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/sHshfpO3mDrQbtqFUtmQNEL0SAHM0W+QaFTaUH0Q03khCjTR5+tsW7mbUIyQf2Yet04xVM5nQXW7rtafq6yCQo=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
i6/JSnhdf2PCl9y8eU5NwLpDHj4XWd0tjHkHOTJwImxBWE0H23IRfKsqMjXjY73/m5NBNPdGpDWsERIe+wV0AA==
