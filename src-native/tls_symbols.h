// Every OpenSSL function the addon calls, for TlsAvailable()'s check and for
// the weak references that let the addon load on a node exporting none of
// them. test/tls.symbols.test.ts compares this list with `nm -u` of the build,
// so a new call cannot be missed here. Macros (SSL_CTX_set_mode,
// BIO_set_retry_read, OPENSSL_free...) expand to the functions listed.
#pragma once

#define REACTOR_TLS_SYMBOLS(X) \
  X(BIO_clear_flags) \
  X(BIO_free) \
  X(BIO_get_data) \
  X(BIO_get_new_index) \
  X(BIO_meth_new) \
  X(BIO_meth_set_ctrl) \
  X(BIO_meth_set_read_ex) \
  X(BIO_meth_set_write_ex) \
  X(BIO_new) \
  X(BIO_new_mem_buf) \
  X(BIO_set_data) \
  X(BIO_set_flags) \
  X(BIO_set_init) \
  X(CRYPTO_free) \
  X(CRYPTO_malloc) \
  X(ERR_clear_error) \
  X(ERR_error_string_n) \
  X(ERR_get_error) \
  X(ERR_lib_error_string) \
  X(ERR_reason_error_string) \
  X(EVP_DecryptInit_ex) \
  X(EVP_EncodeBlock) \
  X(EVP_EncryptInit_ex) \
  X(EVP_MAC_CTX_set_params) \
  X(EVP_PKEY_free) \
  X(EVP_PKEY_get_base_id) \
  X(EVP_aes_128_cbc) \
  X(EVP_PKEY_get_bits) \
  X(EVP_PKEY_get_group_name) \
  X(EVP_PKEY_get_id) \
  X(EVP_sha256) \
  X(OBJ_nid2sn) \
  X(OSSL_PARAM_construct_end) \
  X(OSSL_PARAM_construct_octet_string) \
  X(OSSL_PARAM_construct_utf8_string) \
  X(OPENSSL_sk_num) \
  X(OPENSSL_sk_pop_free) \
  X(OPENSSL_sk_value) \
  X(OpenSSL_version) \
  X(PKCS12_free) \
  X(PKCS12_parse) \
  X(PEM_bytes_read_bio) \
  X(PEM_read_bio_Parameters) \
  X(PEM_read_bio_PrivateKey) \
  X(PEM_read_bio_X509) \
  X(PEM_read_bio_X509_AUX) \
  X(PEM_read_bio_X509_CRL) \
  X(RAND_bytes) \
  X(SSL_CIPHER_get_name) \
  X(SSL_CIPHER_get_version) \
  X(SSL_CIPHER_standard_name) \
  X(SSL_client_hello_get0_ext) \
  X(SSL_client_hello_get0_session_id) \
  X(SSL_ctrl) \
  X(SSL_CTX_add_client_CA) \
  X(SSL_CTX_check_private_key) \
  X(SSL_CTX_callback_ctrl) \
  X(SSL_CTX_ctrl) \
  X(SSL_CTX_get0_certificate) \
  X(SSL_CTX_free) \
  X(SSL_CTX_get_cert_store) \
  X(SSL_CTX_new) \
  X(SSL_CTX_sess_set_get_cb) \
  X(SSL_CTX_sess_set_new_cb) \
  X(SSL_CTX_set_alpn_protos) \
  X(SSL_CTX_set_alpn_select_cb) \
  X(SSL_CTX_set_cipher_list) \
  X(SSL_CTX_set_cert_cb) \
  X(SSL_CTX_set_client_hello_cb) \
  X(SSL_CTX_set0_tmp_dh_pkey) \
  X(SSL_CTX_set_ciphersuites) \
  X(SSL_CTX_set_keylog_callback) \
  X(SSL_CTX_set_options) \
  X(SSL_CTX_set_session_id_context) \
  X(SSL_CTX_set_timeout) \
  X(SSL_CTX_set_tlsext_ticket_key_evp_cb) \
  X(SSL_CTX_set_verify) \
  X(SSL_CTX_use_PrivateKey) \
  X(SSL_CTX_use_certificate) \
  X(SSL_export_keying_material) \
  X(SSL_get_certificate) \
  X(SSL_get_peer_cert_chain) \
  X(SSL_get_shared_sigalgs) \
  X(SSL_get_SSL_CTX) \
  X(SSL_group_to_name) \
  X(SSL_SESSION_free) \
  X(SSL_SESSION_get_id) \
  X(SSL_do_handshake) \
  X(SSL_free) \
  X(SSL_get0_alpn_selected) \
  X(SSL_get1_peer_certificate) \
  X(SSL_get1_session) \
  X(SSL_get_current_cipher) \
  X(SSL_get_error) \
  X(SSL_get_finished) \
  X(SSL_get_ex_data) \
  X(SSL_get_servername) \
  X(SSL_get_peer_finished) \
  X(SSL_get_session) \
  X(SSL_get_verify_result) \
  X(SSL_get_version) \
  X(SSL_has_pending) \
  X(SSL_new) \
  X(SSL_read_ex) \
  X(SSL_select_next_proto) \
  X(SSL_SESSION_get0_ticket) \
  X(SSL_session_reused) \
  X(SSL_set_accept_state) \
  X(SSL_set_SSL_CTX) \
  X(SSL_set_bio) \
  X(SSL_set_connect_state) \
  X(SSL_set_ex_data) \
  X(SSL_set_session) \
  X(SSL_shutdown) \
  X(SSL_version) \
  X(SSL_write_ex) \
  X(TLS_client_method) \
  X(TLS_server_method) \
  X(X509_check_issued) \
  X(X509_CRL_free) \
  X(X509_STORE_add_cert) \
  X(X509_STORE_add_crl) \
  X(X509_STORE_CTX_free) \
  X(X509_STORE_CTX_get1_issuer) \
  X(X509_STORE_CTX_init) \
  X(X509_STORE_CTX_new) \
  X(X509_STORE_set_flags) \
  X(X509_digest) \
  X(X509_free) \
  X(X509_up_ref) \
  X(X509_verify_cert_error_string) \
  X(d2i_KeyParams) \
  X(d2i_PKCS12_bio) \
  X(d2i_SSL_SESSION) \
  X(i2d_SSL_SESSION) \
  X(i2d_X509)

// Functions used only where the running node has them (a trace needs an
// OpenSSL built with ssl-trace, as node's own builds are): weak like the
// rest, checked by TlsTraceAvailable() where used, and not part of
// TlsAvailable(), so a node without them still has reactor TLS.
#define REACTOR_TLS_OPTIONAL_SYMBOLS(X) \
  X(BIO_ctrl) \
  X(BIO_s_mem) \
  X(ERR_pop_to_mark) \
  X(ERR_set_mark) \
  X(SSL_set_msg_callback) \
  X(SSL_trace)
