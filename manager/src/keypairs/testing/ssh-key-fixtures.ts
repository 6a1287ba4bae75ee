// OpenSSH public keys made with ssh-keygen, with the fingerprints `ssh-keygen -l` printed for
// them (-E md5 and the default SHA256): an implementation independent of the one under test.

export interface KeyFixture { line: string; md5: string; sha256: string; bits: number }

export const KEYS = {
  ed25519: {
    line: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJqHLdYJImqRbBZAfe0oY833nsy1oyZYf9fbal4oy7ps me@host",
    md5: "ab:1d:cb:42:4e:1a:8c:e0:c1:59:4a:fb:81:f3:54:aa", sha256: "SHA256:4ERkuwB8/u1USXO3JpPuYJviym91U+YNqX9pj9GD4AQ", bits: 256,
  },
  rsa2048: {
    line: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCc1BpurEZQyC/IwtBXnvIPVMux0J2a6uaW+rT3U/VxnwKUKkNX0yZ5q8ENwkYksx8LisTLdrLU26k1sCbkmkT8y4RYaCNDp6+I31WrP1ofz28fndOSdHqgwdDrcTRoM3lQv2+Nz2fpkXGm6IDOeN7q/Kyw918iNZr2uTIkXxYtbm5liX5iMfKpkrIS43Mh160+tALoUfXmgFM/rbbA+5ZwkxHdoMmp4HD8wP8ljKmVGSkhAEmjcb16FbAl1IT7kDj32JqXDmBlJp1lRp1mybOXT+aR4PsNHAESrn2K5oXluaC6Ell53EhgdhzOS8YTZte4L4zTLl67OpxQGgbDx2zz root@vm",
    md5: "58:07:94:52:76:c4:64:51:24:7d:82:01:04:24:cd:ff", sha256: "SHA256:CsA1WtBHmaJTFP05i//IVbbog1NVAHNMSOTW5/nTdE8", bits: 2048,
  },
  ecdsa384: {
    line: "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBGWwIVreiCmHx6UHgyw+LWGIVE64idyVVxIm3OzqdNgnLRuNgKIj3GDrSvGDTiLYRnBH94TT3hPApdaa+fNeTDybh0WIsGRKPDLGdfMIGnWQWJhJC94J52ed216oQD4HrQ== root@vm",
    md5: "12:76:48:bb:72:05:0b:fe:10:a0:29:a9:49:19:62:28", sha256: "SHA256:lz/ZqqIa0XDrpL05O1cIAsvl0l+78eM+jXCMsaDbijI", bits: 384,
  },
  ecdsa521: {
    line: "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAEOFOIQVM4tmBJGATB2FyrdqHk52plhirsBg8rxW7Q/lidc+7EREdZg2NxNtamgbcl98Cuhi0y9XtpsJcWEjCJ09AFpCF9hN2droqXz0J/aFh6Le/Gmgm7glYwYN7+1OAMJou/uMf/gkDvuRcrmmuo4F5GmWHfB92dwBZknyPn9PrHyeA== ops key",
    md5: "cc:ce:65:f4:99:3e:9f:b7:bc:96:c8:7d:96:3f:85:a0", sha256: "SHA256:dXua22z3GjyfV1KhLjLLKkZUOTiwKF7YCF+oodOuY74", bits: 521,
  },
  ecdsa256: {
    line: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGBcpI14qofcLD+C92hsP25y744OI/WfyhjLMVwbObt7QHl/UTA+kyUJn2o9w7Daxv4HWbhm1fFAY/1Nf8DnY38= x",
    md5: "b6:0a:a5:d4:7a:74:76:56:a4:02:18:08:5d:1b:6f:e9", sha256: "SHA256:i8ysqOA0jj4cISlApXn/t5eJ/YhDRuLlsVNbuSsCIeg", bits: 256,
  },
} satisfies Record<string, KeyFixture>;

/** Refused on import: too short an RSA key, and DSA. */
export const RSA_1024 = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDhVXJ2zUNmq4nOyWUAQuS9jr/e2nM2wyamdDBMWeCSSjNUj8Z1STF9oXrxZjli37BFO1MRGloWmOOSRH+U3O/37F3aiZ3XOPV7ylIw1oRqimqlJoYSDgzQDMLcWNoehf3e3KnHGDcII+KGstkiTmsUdgf30ePAYEzl7NkdXSLdew== root@vm";
export const DSA = "ssh-dss AAAAB3NzaC1kc3MAAACBAI6YowiRgnaZ+dcTTg4cCn9Mv7tEtONLxzW0Pn0Y78fDyO5edEwO1igufJgLYgKTxQmxpzOJiKXPatVXIM6JvjnTientZPFuj4yMTlLEPKJxuSMr2iMnFZwJ5YK58BGDHwCg4znj5T4I81/NwdZXV3hVrCyUv61nlIGLnANzlpYlAAAAFQCiWOCczBeM5lfrTMOFotHCm/j0uwAAAIEAjB+9kJkcvEaZwi5q/qK32+ypOCQrw5kPY7hDX0y/F4TGUqXjGPqp0vRXwEH6bZxowxqiNv5V9YmJPEvdZlo95E93hzetmosaHodCbDgcV3tlOjMd3zReU1h8eOUG35Phek4ji9Cn9PYQ4JIHxmButNEsk80Q3TpHibzSZT+cCYsAAACAKZZgwtkKBM8rLAIIiRnQJTsf5ZMDPRL1d6g12m0dV3a7lI1iLVAoBtNoblZ/70ux9KE8gvRKdO17WIt7KZNE4hJUQDTBpb/AIV2YO21bMA+ctutueg+E6mg1zTq1sBg3srxXd0Zbbo/jcaGV8fmZLCYVTyLhxFZbn1jV+1TRO5o= root@vm";
