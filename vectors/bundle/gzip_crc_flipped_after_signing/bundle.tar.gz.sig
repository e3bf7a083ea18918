untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/kOY+PEh6AXZOxGqTNFDcV0X86KQ0JxTpFQjoKIz8b9ZjQHcFsL6h7wigdA/ate2egsfOjXSkxIJvIBg/rv+pg4=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
oV4TVJFVSAx9l1IBWi1Rf5AD06an6KAEjriUUp80Hjta+2IMwwJivWosSsZoyqa3jiflkHNOXO9mHExuYUknCw==
