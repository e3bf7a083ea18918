untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/r+pViX2MmyNp2Hdg62Yup9mFkGXJ1gtMHEZHNyjSGmB06GqZTfPi+v/UMlCe6SAhsophHd3LIUiZO5kXqG6pw8=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
wl+fa+m/f7gzl1hKa3fSFhWcvLpIvYEbbPxPMwh2cbLGD1YwGwbbDY/lrZMNxT8XLDC+jwp65PtmD88XijF1Bw==
