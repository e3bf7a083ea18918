untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/ufEmIJQ8Tm18MbVQADUj5f29QNYrzyF08t/O2XdCBdRHSN48lwZ+b0gS1/we0+YGGiPfu2+2yXE/FR0Yfv5Awc=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
tBepcMIzX3eHjzx3Z+n/aPWKd+SzzdlMDFAt57hL1qCHmq4I97ARkQv+Fuu01VvjbEvEoqSl2xuXcApMRT3XBw==
