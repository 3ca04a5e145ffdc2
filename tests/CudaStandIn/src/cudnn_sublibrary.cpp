// cudnn_sublibrary.cpp — built twice, as libcudnn_ops.so.9 and libcudnn_cnn.so.9: stand-ins for cuDNN 9's
// sub-libraries, which cudnnCreate loads by file name (see cudnn.cpp). They hold nothing but their names.
extern "C" const char* fg_standin_cudnn_sublibrary() { return FG_STANDIN_SUBLIBRARY; }
