untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/vG8maBKGAbi+C60yCWD64UJMh/ccNmlMabZQ95vd9QnZ/C1HAAMOZ6/C2iLsIue3SYgkQsSuWpMYBrTGsyuRQU=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
Q/jWj/nCYJYeKBvUr/2SiwTyETdXF72nWbLtxm+fVUU7F2SLhn4HTKUe/xmhCWCCZ89lumOz2H27OgdCWt03Aw==
