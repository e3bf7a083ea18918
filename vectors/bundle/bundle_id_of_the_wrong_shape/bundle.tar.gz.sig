untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/oCRGsyt/2UI2UgNJvBrSm2B3PClvNnJHwcjtNzgHsN8UCJcW+rh6rbvmRAcFE3RPrmxL2vhUMIEOuUF7T+RXgU=
trusted comment: bundle_id:bnd-XYZ	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
QHJcqySVNseOg+P6epmxeDPix80ZIxfuV+NzQCw8E7eXAueZmhE6RqHkhMzYNHNNWKkNQSuz3nwqc/Dz4XQ6DQ==
