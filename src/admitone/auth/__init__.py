"""Sign-in (e-mail OTP, magic links, Google, Apple), sessions and tokens."""
